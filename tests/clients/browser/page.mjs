// The browser page: the real `openai` and `@anthropic-ai/sdk` packages, bundled by esbuild, calling the
// gateway from another origin. `window.runAll` returns one result per call, errors included.
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';

async function settle(fn) {
  try {
    return { ok: true, value: await fn() };
  } catch (e) {
    return {
      ok: false,
      error: String(e),
      status: e?.status ?? null,
      // Anthropic's body is {"type":"error","error":{...}}; OpenAI's inner object is e.error.
      type: e?.error?.error?.type ?? e?.error?.type ?? null,
      code: e?.code ?? null,
      requestID: e?.requestID ?? null,
    };
  }
}

window.runAll = async ({ gateway, key }) => {
  const common = { apiKey: key, dangerouslyAllowBrowser: true, maxRetries: 0 };
  const openai = new OpenAI({ ...common, baseURL: `${gateway}/v1` });
  const bare = new OpenAI({ ...common, baseURL: gateway });
  const claude = new Anthropic({ ...common, baseURL: gateway });
  const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'browser-chat' }] };
  const msg = { model: 'claude-3-5-sonnet', max_tokens: 32, messages: [{ role: 'user', content: 'browser-msg' }] };
  const calls = {
    chat: async () => (await openai.chat.completions.create(chat)).choices[0].message.content,
    chat_stream: async () => {
      let text = '';
      for await (const chunk of await openai.chat.completions.create({ ...chat, stream: true })) {
        text += chunk.choices[0]?.delta?.content ?? '';
      }
      return text;
    },
    chat_stream_helper: async () => {
      const stream = openai.chat.completions.stream(chat);
      return (await stream.finalChatCompletion()).choices[0].message.content;
    },
    without_v1: async () => (await bare.chat.completions.create(chat)).choices[0].message.content,
    models: async () => (await openai.models.list()).data.map((m) => m.id),
    messages: async () => (await claude.messages.create(msg)).content[0].text,
    messages_stream_helper: async () => await claude.messages.stream(msg).finalText(),
    openai_bad_key: async () => new OpenAI({ ...common, apiKey: 'sk-wrong', baseURL: `${gateway}/v1` })
      .chat.completions.create(chat),
    anthropic_bad_key: async () => new Anthropic({ ...common, apiKey: 'sk-wrong', baseURL: gateway })
      .messages.create(msg),
  };
  const results = {};
  for (const [name, fn] of Object.entries(calls)) results[name] = await settle(fn);
  return results;
};
