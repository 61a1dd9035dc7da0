// Live updates for one job, or for the jobs feed: the browser client module's transport core
// (doccount-client.js: SSE, then WebSocket, then polling with `?since=`), fed with this page's
// own request (the token from the prompt), stream tokens and SSE event names. One
// implementation for the dashboard and for other frontends.

import { api, ApiError, MSG_UNREACHABLE, requestToken, withStreamToken } from './api.js';
import { TransportCore } from './doccount-client.js';

export const TRANSPORT_LABELS = { sse: 'SSE', ws: 'WebSocket', poll: '폴링' };

// The SSE event names to listen for: the server's list, from /api/config (setEventTypes);
// streams start only once the config is in. An unnamed `message` is always heard.
let eventTypes = [];

export function setEventTypes(types) {
  if (Array.isArray(types)) eventTypes = types.filter((t) => typeof t === 'string');
}

// Transports that have proven broken on this page, for every stream of it.
const demotions = { floor: 0 };

export class LiveStream extends TransportCore {
  /**
   * @param {object} o
   * @param {'job'|'jobs'} o.kind
   * @param {string} [o.jobId]
   * @param {() => (string|null)} [o.lastEventId]  resume point, read at every (re)connect
   * @param {(ev: object) => (boolean|void)} o.onEvent  return true when the stream is over
   * @param {(s: {transport: string, state: string, detail: string}) => void} [o.onState]
   * @param {(err: ApiError) => void} [o.onGone]  the job does not exist (any more)
   */
  constructor(o) {
    super({
      ...o,
      request: (path) => api(path),
      streamUrl: withStreamToken,
      eventTypes: () => eventTypes,
      reauth: () => requestToken(true),
      makeError: (message, extra) => new ApiError(message, extra),
      demotions,
      unreachable: MSG_UNREACHABLE,
    });
  }
}
