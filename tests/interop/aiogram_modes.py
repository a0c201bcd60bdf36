#!/usr/bin/env python3
"""An aiogram 3 bot as people deploy it, for tests/it/frameworks.rs: long polling
(`dp.start_polling`) or a webhook with aiogram's default background handling (the POST is
acknowledged before the handler runs). It talks to the Bot API at --api (the stress stand-in)
through aiogram's own base-URL setting and runs until SIGTERM or SIGINT.

Handlers (the same in every framework bot of the test):
  /start         -> "hello <first_name>"
  /menu          -> "Choose:" with buttons pick:a and pick:b
  /twice         -> two messages, "one" and "two" (a bot that answers in parts)
  callback pick:X -> answerCallbackQuery, then the menu edited to "you chose X"
  voice          -> downloads the file (getFile, then /file/bot<token>/<path>), checks it is an
                    OGG stream of the advertised size: "voice: <size> bytes"
  other text     -> "echo: <text>"
Every update id is remembered; one seen twice is reported on stderr as "DUPLICATE <id>".
"""

import argparse
import asyncio
import io
import logging
import signal
import socket
import sys

from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.filters import Command, CommandStart
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web

router = Router(name="frameworks")
seen: set[int] = set()


@router.message(CommandStart())
async def start(message: Message) -> None:
    await message.answer(f"hello {message.from_user.first_name}")


@router.message(Command("twice"))
async def twice(message: Message) -> None:
    await message.answer("one")
    await message.answer("two")


@router.message(Command("menu"))
async def menu(message: Message) -> None:
    keyboard = InlineKeyboardMarkup(inline_keyboard=[[
        InlineKeyboardButton(text="A", callback_data="pick:a"),
        InlineKeyboardButton(text="B", callback_data="pick:b"),
    ]])
    await message.answer("Choose:", reply_markup=keyboard)


@router.callback_query(F.data.startswith("pick:"))
async def pick(query: CallbackQuery) -> None:
    await query.answer("ok")
    await query.message.edit_text(f"you chose {query.data.split(':', 1)[1]}")


@router.message(F.voice)
async def voice(message: Message, bot: Bot) -> None:
    data = io.BytesIO()
    await bot.download(message.voice, destination=data)
    raw = data.getvalue()
    if not raw.startswith(b"OggS") or len(raw) != message.voice.file_size:
        print(f"BAD VOICE {len(raw)} bytes, advertised {message.voice.file_size}", file=sys.stderr, flush=True)
        await message.answer("voice: bad file")
        return
    await message.answer(f"voice: {len(raw)} bytes")


@router.message(F.text)
async def echo(message: Message) -> None:
    await message.answer(f"echo: {message.text}")


class Outer:
    """Notes every update id before any handler runs."""

    async def __call__(self, handler, event: Update, data):
        if event.update_id in seen:
            print(f"DUPLICATE {event.update_id}", file=sys.stderr, flush=True)
        seen.add(event.update_id)
        return await handler(event, data)


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--api", required=True)
    p.add_argument("--token", required=True)
    p.add_argument("--mode", choices=["polling", "webhook"], required=True)
    p.add_argument("--secret", default="aiogram_secret")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="aiogram_modes %(levelname)s %(name)s: %(message)s")

    bot = Bot(token=args.token, session=AiohttpSession(api=TelegramAPIServer.from_base(args.api)))
    dp = Dispatcher()
    dp.update.outer_middleware(Outer())
    dp.include_router(router)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    if args.mode == "polling":
        await bot.delete_webhook(drop_pending_updates=False)
        polling = asyncio.create_task(dp.start_polling(bot, handle_signals=False, close_bot_session=True))
        await stop.wait()
        await dp.stop_polling()
        await polling
        return

    app = web.Application()
    SimpleRequestHandler(dispatcher=dp, bot=bot, secret_token=args.secret).register(app, path="/webhook")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/webhook"
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    try:
        await bot.set_webhook(url, secret_token=args.secret, max_connections=20)
        await stop.wait()
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
