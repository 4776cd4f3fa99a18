// The embed's end of the jschannel protocol over postMessage, as spoken by the variant bundled
// in `@peertube/embed-api` (so a site's unchanged `PeerTubePlayer` can drive this embed).
//
// Wire format: every message is a JSON string. Method names are "<scope>::<name>".
//   request       {id, method, params}       -> reply {id, result} or {id, error, message}
//   notification  {method, params}
//   handshake     both ends send the notification `__ready` {type: 'publish-request',
//                 publish: []} when they start; an end that receives a publish-request answers
//                 `__ready` {type: 'publish-reply', publish: []}; either message means the other
//                 end is listening. The host queues its calls until then; this end drops its
//                 notifications until then (the host asks `isReady` once connected, so the
//                 `ready` notification needs no queue).
// The host builds its channel whenever it likes (often before this page has loaded, so its
// first publish-request is lost): whichever end starts second completes the handshake. A
// later publish-request (the host made a new PeerTubePlayer) is answered again.

/** An error a bound method throws to make the host's promise reject with `code`. */
export class ChannelError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

/** postMessage cannot target the origin "null" (sandboxed or file: hosts): use "*" there. */
function targetOrigin(origin) {
  return origin && origin !== 'null' ? origin : '*';
}

export class ParentChannel {
  /**
   * @param {object} options
   * @param {string} options.scope the jschannel scope (PeerTube's `scope` parameter)
   * @param {string[]} options.allowedOrigins host origins to talk to; empty means any
   * @param {Window} [options.target] the host window (window.parent)
   */
  constructor({ scope, allowedOrigins, target = window.parent }) {
    this.scope = scope;
    this.allowedOrigins = allowedOrigins;
    this.target = target;
    this.methods = new Map();
    this.hostOrigin = null; // set by the handshake: where notifications go
    this.onMessage = (event) => this.receive(event);
  }

  /** `handler(params)` answers requests for `name`; it may return a promise or throw. */
  bind(name, handler) {
    this.methods.set(name, handler);
  }

  get connected() {
    return this.hostOrigin !== null;
  }

  /** Starts listening and announces this end to the host. */
  start() {
    window.addEventListener('message', this.onMessage);
    const hello = { method: `${this.scope}::__ready`, params: { type: 'publish-request', publish: [] } };
    // With a list of origins, address each one: the browser delivers only to the one the host
    // really has, so the announcement never reaches a host that is not allowed.
    const origins = this.allowedOrigins.length > 0 ? this.allowedOrigins : ['*'];
    for (const origin of origins) this.post(hello, origin);
  }

  stop() {
    window.removeEventListener('message', this.onMessage);
    this.hostOrigin = null;
  }

  /** Sends a notification (an event) to the connected host; dropped before the handshake. */
  notify(name, params) {
    if (!this.connected) return;
    this.post({ method: `${this.scope}::${name}`, params }, this.hostOrigin);
  }

  post(message, origin) {
    this.target.postMessage(JSON.stringify(message), targetOrigin(origin));
  }

  receive(event) {
    if (event.source !== this.target) return;
    if (this.allowedOrigins.length > 0 && !this.allowedOrigins.includes(event.origin)) return;
    if (typeof event.data !== 'string') return;
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      return; // not ours: other scripts post messages too
    }
    if (typeof message !== 'object' || message === null || typeof message.method !== 'string') return;
    const parts = message.method.split('::');
    if (parts.length !== 2 || parts[0] !== this.scope) return;
    const name = parts[1];

    if (name === '__ready') return this.handshake(message.params, event.origin);
    // `__bind`/`__unbind` announce methods the host publishes; PeerTubePlayer publishes none.
    if (name === '__bind' || name === '__unbind') return;
    if (message.id === undefined) return; // the host sends no notifications we act on
    this.answer(message.id, name, message.params, event.origin);
  }

  handshake(params, origin) {
    const type = params?.type;
    if (type !== 'publish-request' && type !== 'publish-reply') return;
    this.hostOrigin = origin;
    if (type === 'publish-request') {
      this.post({ method: `${this.scope}::__ready`, params: { type: 'publish-reply', publish: [] } }, origin);
    }
  }

  async answer(id, name, params, origin) {
    const handler = this.methods.get(name);
    let reply;
    if (!handler) {
      reply = { id, error: 'method_not_found', message: `No method '${name}' was (yet) bound by the provider` };
    } else {
      try {
        const result = await handler(params);
        reply = result === undefined ? { id } : { id, result };
      } catch (error) {
        reply = {
          id,
          error: error instanceof ChannelError ? error.code : 'runtime_error',
          message: String(error?.message ?? error),
        };
      }
    }
    this.post(reply, origin);
  }
}
