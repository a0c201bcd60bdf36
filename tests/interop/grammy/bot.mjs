// A grammY 1 webhook bot for tests/it/frameworks.rs. It talks to the Bot API at --api (the stress
// stand-in) through grammY's apiRoot setting, serves its webhook on 127.0.0.1 (a port the OS
// chooses), registers it with setWebhook and a secret, and runs until SIGTERM or SIGINT. Its
// handlers answer as the other framework bots of the test do (see ../aiogram_modes.py).
import http from "node:http";
import { parseArgs } from "node:util";
import { Bot, InlineKeyboard, webhookCallback } from "grammy";

const { values: args } = parseArgs({
  options: { api: { type: "string" }, token: { type: "string" }, secret: { type: "string", default: "grammy_secret" } },
});
const bot = new Bot(args.token, { client: { apiRoot: args.api } });
const seen = new Set();

bot.use(async (ctx, next) => {
  if (seen.has(ctx.update.update_id)) console.error(`DUPLICATE ${ctx.update.update_id}`);
  seen.add(ctx.update.update_id);
  await next();
});
bot.command("start", (ctx) => ctx.reply(`hello ${ctx.from.first_name}`));
bot.command("menu", (ctx) =>
  ctx.reply("Choose:", { reply_markup: new InlineKeyboard().text("A", "pick:a").text("B", "pick:b") }));
bot.callbackQuery(/^pick:/, async (ctx) => {
  await ctx.answerCallbackQuery("ok");
  await ctx.editMessageText(`you chose ${ctx.callbackQuery.data.split(":")[1]}`);
});
bot.on("message:voice", async (ctx) => {
  const file = await ctx.getFile();
  const res = await fetch(`${args.api}/file/bot${args.token}/${file.file_path}`);
  const raw = Buffer.from(await res.arrayBuffer());
  const size = ctx.message.voice.file_size;
  if (raw.subarray(0, 4).toString("latin1") !== "OggS" || raw.length !== size) {
    console.error(`BAD VOICE ${raw.length} bytes, advertised ${size}`);
    return ctx.reply("voice: bad file");
  }
  return ctx.reply(`voice: ${raw.length} bytes`);
});
bot.on("message:text", (ctx) => ctx.reply(`echo: ${ctx.message.text}`));
bot.catch((err) => console.error(`grammy error: ${err.error}`));

await bot.init();
const server = http.createServer(webhookCallback(bot, "http", { secretToken: args.secret }));
server.listen(0, "127.0.0.1", async () => {
  const url = `http://127.0.0.1:${server.address().port}/webhook`;
  await bot.api.setWebhook(url, { secret_token: args.secret, max_connections: 20 });
});
for (const sig of ["SIGTERM", "SIGINT"]) {
  process.on(sig, () => server.close(() => process.exit(0)));
}
