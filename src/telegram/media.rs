//! The files virtual users send: voice notes, photos (every size Telegram makes of one) and
//! documents, built in from `data/files/` (made by the scripts in `tools/`). An update
//! advertises each file's real length, duration or dimensions, and its `file_id` names the file,
//! so the stand-in's getFile and downloads (`botapi/files.rs`) serve exactly what the update
//! promised.
//!
//! A file id is a kind's Telegram-like prefix, a two-character code, and random characters: the
//! code is `S` and the file's index in [`FILES`] for a file with bytes, `N` and a letter for a
//! file the stand-in made up (a video a bot sent) and has no bytes for.

use rand::Rng;
use rand::seq::IndexedRandom;

use super::types::{Document, PhotoSize, Voice};

/// What a file is, as Telegram's file_path folders and file-id prefixes tell them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Voice,
    Photo,
    Document,
}

/// One file with bytes.
#[derive(Debug, PartialEq, Eq)]
pub struct SampleFile {
    pub kind: FileKind,
    /// The `file_path` getFile answers, under `/file/bot<token>/`.
    pub path: &'static str,
    pub bytes: &'static [u8],
    pub mime_type: &'static str,
    /// Seconds, for a voice note.
    pub duration: u32,
    /// Pixels, for a photo size.
    pub width: u32,
    pub height: u32,
}

macro_rules! sample {
    ($kind:ident, $path:literal, $file:literal, $mime:literal, $duration:literal, $w:literal x $h:literal) => {
        SampleFile {
            kind: FileKind::$kind,
            path: $path,
            bytes: include_bytes!(concat!("../../data/files/", $file)),
            mime_type: $mime,
            duration: $duration,
            width: $w,
            height: $h,
        }
    };
}

/// Every file with bytes. The indexes are in file ids: a file is only ever added at the end.
/// The photo sizes must match `tools/make-photos.py` (a test reads each JPEG's size).
pub static FILES: [SampleFile; 18] = [
    sample!(Voice, "voice/file_0.oga", "voice-2s.oga", "audio/ogg", 2, 0 x 0),
    sample!(Voice, "voice/file_1.oga", "voice-5s.oga", "audio/ogg", 5, 0 x 0),
    sample!(Voice, "voice/file_2.oga", "voice-12s.oga", "audio/ogg", 12, 0 x 0),
    sample!(Photo, "photos/file_3.jpg", "photo-landscape-90x67.jpg", "image/jpeg", 0, 90 x 67),
    sample!(Photo, "photos/file_4.jpg", "photo-landscape-320x240.jpg", "image/jpeg", 0, 320 x 240),
    sample!(Photo, "photos/file_5.jpg", "photo-landscape-800x600.jpg", "image/jpeg", 0, 800 x 600),
    sample!(Photo, "photos/file_6.jpg", "photo-landscape-1280x960.jpg", "image/jpeg", 0, 1280 x 960),
    sample!(Photo, "photos/file_7.jpg", "photo-portrait-50x90.jpg", "image/jpeg", 0, 50 x 90),
    sample!(Photo, "photos/file_8.jpg", "photo-portrait-180x320.jpg", "image/jpeg", 0, 180 x 320),
    sample!(Photo, "photos/file_9.jpg", "photo-portrait-450x800.jpg", "image/jpeg", 0, 450 x 800),
    sample!(Photo, "photos/file_10.jpg", "photo-portrait-720x1280.jpg", "image/jpeg", 0, 720 x 1280),
    sample!(Photo, "photos/file_11.jpg", "photo-square-90x90.jpg", "image/jpeg", 0, 90 x 90),
    sample!(Photo, "photos/file_12.jpg", "photo-square-320x320.jpg", "image/jpeg", 0, 320 x 320),
    sample!(Photo, "photos/file_13.jpg", "photo-square-800x800.jpg", "image/jpeg", 0, 800 x 800),
    sample!(Document, "documents/file_14.pdf", "document.pdf", "application/pdf", 0, 0 x 0),
    sample!(Document, "documents/file_15.csv", "document.csv", "text/csv", 0, 0 x 0),
    sample!(Document, "documents/file_16.txt", "document.txt", "text/plain", 0, 0 x 0),
    sample!(Document, "documents/file_17.json", "document.json", "application/json", 0, 0 x 0),
];

const VOICES: [usize; 3] = [0, 1, 2];
/// Each photo's sizes, smallest first, as indexes into the files.
const PHOTOS: [&[usize]; 3] = [&[3, 4, 5, 6], &[7, 8, 9, 10], &[11, 12, 13]];
/// Documents by name; several names may share a file.
const DOCUMENTS: [(&str, usize); 5] = [
    ("report.pdf", 14),
    ("Отчёт за квартал.pdf", 14),
    ("data.csv", 15),
    ("notes.txt", 16),
    ("trace.json", 17),
];

/// Telegram's file-id prefixes, per kind (base64url of the file's type and location).
const VOICE_PREFIX: &str = "AwACAgIAAxkBAAI";
const PHOTO_PREFIX: &str = "AgACAgIAAxkBAAI";
const DOCUMENT_PREFIX: &str = "BQACAgIAAxkBAAI";
const PREFIX_LEN: usize = 15;
const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn file(index: usize) -> &'static SampleFile {
    &FILES[index]
}

/// What a file id names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileRef {
    /// A file with bytes.
    Sample(&'static SampleFile),
    /// A file the stand-in made up, which has no bytes.
    Unstored,
}

/// The file a file id names, if the stand-in gave it out.
pub fn lookup(file_id: &str) -> Option<FileRef> {
    let code = file_id.as_bytes().get(PREFIX_LEN..PREFIX_LEN + 2)?;
    let index = ALPHABET.iter().position(|&c| c == code[1])?;
    match code[0] {
        b'S' => FILES.get(index).map(FileRef::Sample),
        b'N' => Some(FileRef::Unstored),
        _ => None,
    }
}

/// The file at `file_path`, as getFile named it.
pub fn by_path(file_path: &str) -> Option<&'static SampleFile> {
    FILES.iter().find(|f| f.path == file_path)
}

/// A file id for the file at `index`: its kind's prefix, its code, random characters.
fn sample_id(rng: &mut impl Rng, index: usize) -> String {
    let prefix = match file(index).kind {
        FileKind::Voice => VOICE_PREFIX,
        FileKind::Photo => PHOTO_PREFIX,
        FileKind::Document => DOCUMENT_PREFIX,
    };
    id_with(rng, prefix, [b'S', ALPHABET[index]])
}

/// A file id for a file without bytes, with `prefix` (a made-up video, sticker, ...).
pub fn unstored_id(rng: &mut impl Rng, prefix: &str) -> String {
    id_with(rng, prefix, [b'N', b'A'])
}

fn id_with(rng: &mut impl Rng, prefix: &str, code: [u8; 2]) -> String {
    let mut s = String::with_capacity(prefix.len() + 58);
    s.push_str(prefix);
    s.extend(code.map(char::from));
    s.extend((0..56).map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())])));
    s
}

/// The file_unique_id that goes with a file id: derived from it, so getFile gives the same one
/// the update did, and random like it, so no two messages share one (a bot that caches work by
/// file_unique_id does the work for every message, as it would for real users).
pub fn unique_id(file_id: &str) -> String {
    let tail = file_id
        .get(PREFIX_LEN + 2..PREFIX_LEN + 14)
        .unwrap_or("AAAAAAAAAAAA");
    ["AgAD", tail].concat()
}

/// A voice note, one of the built-in ones.
pub fn voice(rng: &mut impl Rng) -> Voice {
    let index = *VOICES.choose(rng).expect("voices");
    let f = file(index);
    let file_id = sample_id(rng, index);
    Voice {
        file_unique_id: unique_id(&file_id),
        file_id,
        duration: f.duration,
        mime_type: Some(f.mime_type.into()),
        file_size: Some(f.bytes.len() as u64),
    }
}

/// The sizes Telegram made of one photo, smallest first, sharing the aspect ratio.
pub fn photo_sizes(rng: &mut impl Rng) -> Vec<PhotoSize> {
    let sizes = *PHOTOS.choose(rng).expect("photos");
    sizes.iter().map(|&index| photo_size(rng, index)).collect()
}

fn photo_size(rng: &mut impl Rng, index: usize) -> PhotoSize {
    let f = file(index);
    let file_id = sample_id(rng, index);
    PhotoSize {
        file_unique_id: unique_id(&file_id),
        file_id,
        width: f.width,
        height: f.height,
        file_size: Some(f.bytes.len() as u64),
    }
}

/// The largest size of one of the built-in photos, where one PhotoSize stands for a photo.
pub fn largest_photo_size(rng: &mut impl Rng) -> PhotoSize {
    let sizes = *PHOTOS.choose(rng).expect("photos");
    photo_size(rng, sizes[sizes.len() - 1])
}

/// A document, one of the built-in ones under one of its names.
pub fn document(rng: &mut impl Rng) -> Document {
    let (name, index) = *DOCUMENTS.choose(rng).expect("documents");
    let f = file(index);
    let file_id = sample_id(rng, index);
    Document {
        file_unique_id: unique_id(&file_id),
        file_id,
        file_name: Some(name.into()),
        mime_type: Some(f.mime_type.into()),
        file_size: Some(f.bytes.len() as u64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    #[test]
    fn file_ids_name_their_files_and_paths_are_unique() {
        let mut rng = SmallRng::seed_from_u64(3);
        for (i, f) in FILES.iter().enumerate() {
            let id = sample_id(&mut rng, i);
            assert_eq!(id.len(), 73, "{id}");
            assert_eq!(lookup(&id), Some(FileRef::Sample(f)));
            assert_eq!(by_path(f.path).map(|g| g.path), Some(f.path));
            assert!(f.path.contains(&format!("file_{i}.")), "{}", f.path);
        }
        assert_eq!(
            lookup(&unstored_id(&mut rng, "BAACAgIAAxkBAAI")),
            Some(FileRef::Unstored)
        );
        assert_eq!(lookup("not a file id"), None);
        assert_eq!(lookup(""), None);
        assert_eq!(by_path("voice/file_99.oga").map(|f| f.path), None);
    }

    #[test]
    fn what_an_update_says_is_what_the_file_is() {
        let mut rng = SmallRng::seed_from_u64(5);
        for _ in 0..50 {
            let v = voice(&mut rng);
            let Some(FileRef::Sample(f)) = lookup(&v.file_id) else {
                panic!("{v:?}")
            };
            assert_eq!(v.file_size, Some(f.bytes.len() as u64));
            assert_eq!(v.duration, f.duration);
            assert_eq!(v.file_unique_id, unique_id(&v.file_id));
            let sizes = photo_sizes(&mut rng);
            assert!(sizes.len() >= 3);
            for s in &sizes {
                let Some(FileRef::Sample(f)) = lookup(&s.file_id) else {
                    panic!("{s:?}")
                };
                assert_eq!((s.width, s.height), (f.width, f.height));
                assert_eq!((f.bytes[0], f.bytes[1]), (0xFF, 0xD8), "a JPEG");
            }
            let d = document(&mut rng);
            let Some(FileRef::Sample(f)) = lookup(&d.file_id) else {
                panic!("{d:?}")
            };
            assert_eq!(d.mime_type.as_deref(), Some(f.mime_type));
            assert_eq!(f.kind, FileKind::Document);
        }
    }
}
