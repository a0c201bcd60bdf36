//! A user's state (`this`) and its size. The state survives every task of the user's life, so
//! a task that keeps adding to it would grow the process for as long as the run lasts; the
//! runtime measures it after every task and holds it to a limit ([`DEFAULT_STATE_LIMIT`]).

use rhai::{Array, Blob, Dynamic, ImmutableString, Map};

/// The default limit of one user's state, in bytes as [`data_size`] counts them: room for
/// counters, flags, ids and short texts, far below what would matter for memory at thousands
/// of users.
pub const DEFAULT_STATE_LIMIT: usize = 64 * 1024;

/// What a value holds, in bytes: strings and blobs by their length, arrays and maps by their
/// elements (and keys), and 16 bytes for every value itself. An estimate of memory, stable
/// across runs and platforms, which is what a limit needs.
pub fn data_size(value: &Dynamic) -> usize {
    const VALUE: usize = 16;
    if let Some(s) = value.read_lock::<ImmutableString>() {
        return VALUE + s.len();
    }
    if let Some(map) = value.read_lock::<Map>() {
        return VALUE
            + map
                .iter()
                .map(|(k, v)| k.len() + data_size(v))
                .sum::<usize>();
    }
    if let Some(array) = value.read_lock::<Array>() {
        return VALUE + array.iter().map(data_size).sum::<usize>();
    }
    if let Some(blob) = value.read_lock::<Blob>() {
        return VALUE + blob.len();
    }
    VALUE
}

/// The size, in words a person reads: `812 B`, `64.0 KiB`, `1.5 MiB`.
pub fn bytes(n: usize) -> String {
    match n {
        n if n < 1024 => format!("{n} B"),
        n if n < 1024 * 1024 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{:.1} MiB", n as f64 / (1024.0 * 1024.0)),
    }
}

/// Reads a size: bytes, or a number with `KiB`, `MiB` (or `KB`, `MB`, `K`, `M`, the same).
pub fn parse_bytes(text: &str) -> Result<usize, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a size (for example 64KiB or 1MiB)"))?;
    let scale = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" | "kib" => 1024.0,
        "m" | "mb" | "mib" => 1024.0 * 1024.0,
        other => return Err(format!("`{other}` is not a size unit (B, KiB, MiB)")),
    };
    let n = number * scale;
    if !(n.is_finite() && n >= 1.0) {
        return Err(format!("`{text}` is not a size of at least one byte"));
    }
    Ok(n as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_count_what_a_state_holds() {
        let mut map = Map::new();
        map.insert("n".into(), Dynamic::from(1_i64));
        map.insert("s".into(), Dynamic::from("x".repeat(1000)));
        map.insert(
            "list".into(),
            Dynamic::from_array(vec![Dynamic::from("ab".to_string()); 10]),
        );
        let size = data_size(&Dynamic::from_map(map));
        // The map, three keys (6 bytes), 1 + (16 + 1000) + (16 + 10 * 18) values.
        assert_eq!(size, 16 + 6 + 16 + 1016 + 16 + 180);
    }

    #[test]
    fn sizes_read_and_print() {
        assert_eq!(parse_bytes("64KiB").unwrap(), 65536);
        assert_eq!(parse_bytes("1 MiB").unwrap(), 1 << 20);
        assert_eq!(parse_bytes("1.5m").unwrap(), 1_572_864);
        assert_eq!(parse_bytes("500").unwrap(), 500);
        assert!(parse_bytes("lots").is_err());
        assert!(parse_bytes("5 GB").is_err());
        assert!(parse_bytes("0").is_err());
        assert_eq!(bytes(812), "812 B");
        assert_eq!(bytes(65536), "64.0 KiB");
    }
}
