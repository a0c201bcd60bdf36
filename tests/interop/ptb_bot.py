#!/usr/bin/env python3
"""A python-telegram-bot 22 bot with `run_polling`, for tests/it/frameworks.rs. It talks to the
Bot API at --api (the stress stand-in) through PTB's base_url settings and runs until SIGTERM or
SIGINT. Its handlers answer as the other framework bots of the test do (see aiogram_modes.py).
"""

import argparse
import io
import logging
import sys

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import (Application, CallbackQueryHandler, CommandHandler, ContextTypes,
                          MessageHandler, TypeHandler, filters)

seen: set[int] = set()


async def note(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if update.update_id in seen:
        print(f"DUPLICATE {update.update_id}", file=sys.stderr, flush=True)
    seen.add(update.update_id)


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await update.message.reply_text(f"hello {update.effective_user.first_name}", do_quote=False)


async def menu(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("A", callback_data="pick:a"),
                                      InlineKeyboardButton("B", callback_data="pick:b")]])
    await update.message.reply_text("Choose:", reply_markup=keyboard, do_quote=False)


async def pick(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    await query.answer("ok")
    await query.edit_message_text(f"you chose {query.data.split(':', 1)[1]}")


async def voice(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    file = await update.message.voice.get_file()
    raw = bytes(await file.download_as_bytearray())
    size = update.message.voice.file_size
    if not raw.startswith(b"OggS") or len(raw) != size:
        print(f"BAD VOICE {len(raw)} bytes, advertised {size}", file=sys.stderr, flush=True)
        await update.message.reply_text("voice: bad file", do_quote=False)
        return
    await update.message.reply_text(f"voice: {len(raw)} bytes", do_quote=False)


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await update.message.reply_text(f"echo: {update.message.text}", do_quote=False)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--api", required=True)
    p.add_argument("--token", required=True)
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="ptb_bot %(levelname)s %(name)s: %(message)s")
    app = (Application.builder().token(args.token)
           .base_url(f"{args.api}/bot").base_file_url(f"{args.api}/file/bot").build())
    app.add_handler(TypeHandler(Update, note), group=-1)
    app.add_handler(CommandHandler("start", start))
    app.add_handler(CommandHandler("menu", menu))
    app.add_handler(CallbackQueryHandler(pick, pattern="^pick:"))
    app.add_handler(MessageHandler(filters.VOICE, voice))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))
    # run_polling stops cleanly on SIGINT and SIGTERM; bootstrap_retries=-1 keeps trying while
    # the Bot API is not up yet (a bot started before the load test).
    app.run_polling(poll_interval=0.0, timeout=1, bootstrap_retries=-1)


if __name__ == "__main__":
    main()
