#!/usr/bin/env python3
"""A small aiogram 3 webhook bot for the interop test (tests/it/interop.rs).

It talks to the Bot API at --api (the stress stand-in) instead of api.telegram.org, serves its
webhook on 127.0.0.1 (port 0 = chosen by the OS), registers it there with setWebhook and the
given secret token, prints one line `LISTENING http://127.0.0.1:PORT/webhook` on stdout, and runs
until stdin closes or it gets SIGTERM/SIGINT.

Handlers:
  /start        -> "aiogram: hello <first_name> (id <user id>)"
  /echo ARGS    -> ARGS (or "aiogram echo: (nothing)" without args)
  /inbody ARGS  -> "aiogram in body: ARGS", returned in the webhook response body instead of
                   being sent with an HTTP call (aiogram does that when it does not handle
                   updates in the background)
  other text    -> "aiogram echo: <text>"
Every other reply is a sendMessage call over HTTP, made before the webhook POST is answered
(handle_in_background=False), so the reply is at the stand-in when the POST returns.
"""

import argparse
import asyncio
import ipaddress
import logging
import signal
import socket
import sys
import threading
from urllib.parse import urlsplit

from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.types import Message
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web

WEBHOOK_PATH = "/webhook"

router = Router(name="interop")


@router.message(CommandStart())
async def start(message: Message) -> None:
    user = message.from_user
    await message.answer(f"aiogram: hello {user.first_name} (id {user.id})")


@router.message(Command("echo"))
async def echo_command(message: Message, command: CommandObject) -> None:
    await message.answer(command.args or "aiogram echo: (nothing)")


@router.message(Command("inbody"))
async def in_body(message: Message, command: CommandObject):
    # Returning the method instead of awaiting it puts the call in the webhook response.
    return message.answer(f"aiogram in body: {command.args or ''}".rstrip())


@router.message(F.text)
async def echo_text(message: Message) -> None:
    await message.answer(f"aiogram echo: {message.text}")


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--api", required=True, help="Bot API base URL, e.g. http://127.0.0.1:8081")
    p.add_argument("--token", required=True)
    p.add_argument("--secret", required=True, help="setWebhook secret_token")
    p.add_argument("--port", type=int, default=0, help="webhook port on 127.0.0.1 (0 = any)")
    args = p.parse_args()
    if not is_loopback(args.api):
        p.error(f"--api must be a loopback address, not {args.api}")
    return args


def stop_when_stdin_closes(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    def wait() -> None:
        try:
            while sys.stdin.buffer.read(4096):
                pass
        except (OSError, ValueError):
            pass
        loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=wait, name="stdin-watch", daemon=True).start()


async def main() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="aiogram_bot %(levelname)s %(name)s: %(message)s")

    session = AiohttpSession(api=TelegramAPIServer.from_base(args.api))
    bot = Bot(token=args.token, session=session)
    dispatcher = Dispatcher()
    dispatcher.include_router(router)

    app = web.Application()
    SimpleRequestHandler(
        dispatcher=dispatcher,
        bot=bot,
        secret_token=args.secret,
        handle_in_background=False,
    ).register(app, path=WEBHOOK_PATH)

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}{WEBHOOK_PATH}"

    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    try:
        # Registered only once the server accepts connections, as a real deployment would.
        await bot.set_webhook(url, secret_token=args.secret)
        print(f"LISTENING {url}", flush=True)

        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        stop_when_stdin_closes(loop, stop)
        await stop.wait()
    finally:
        # Closes the bot's HTTP session too (the request handler's on_shutdown hook).
        await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
