// Types of doccount-client.js, served beside it (/static/doccount-client.d.ts).
// The shapes below are the API's own: tests/unit/test_client_types.py checks every interface
// and union here against the OpenAPI document's schemas (GET /api/openapi.json), so they cannot
// drift apart. Fields the server adds later are compatible: ignore what you do not know.

export type JobStatus = 'pending' | 'processing' | 'completed' | 'failed' | 'cancelled';
export type Priority = 'high' | 'normal' | 'low';
export type Category =
  | 'blog' | 'book' | 'cafe' | 'doc' | 'encyc' | 'image' | 'kin' | 'news' | 'shop' | 'web';
export type EventType = 'snapshot' | 'status' | 'progress' | 'result' | 'job' | 'jobs';
export type Transport = 'sse' | 'ws' | 'poll';
export type TransportState = 'connecting' | 'open' | 'failed';

export interface Progress {
  current: number;
  total: number;
}

export interface Result {
  index?: number;
  keyword: string;
  counts: Record<string, number>;
  source: 'naver' | 'demo';
  cached: string[];
  error: string | null;
  errors?: Record<string, string>;
  /** Per failed category, the error's stable code ('rate_limited', 'bad_request', ...). */
  errorCodes?: Record<string, string>;
  /** Per category, the last observation before this one (the keyword's history). */
  previous?: Record<string, PreviousCount>;
  /** Cached categories: when the upstream said the count (epoch ms). */
  observedAt?: Record<string, number>;
  /** Monthly searches (Search Ad keyword tool); null when off, not in yet, or failed. */
  searchVolume?: SearchVolume | null;
  /** 경쟁률 per category: documents / monthly searches (null when the volume is unknown). */
  ratio?: Record<string, number> | null;
}

/** Naver's "< 10" is 10 with its ...Below flag set. */
export interface SearchVolume {
  pc: number;
  pcBelow: boolean;
  mobile: number;
  mobileBelow: boolean;
  total: number;
  totalBelow: boolean;
  compIdx?: '높음' | '중간' | '낮음' | null;
  source: 'naver' | 'demo';
  cached?: boolean;
  observedAt?: number;
}

export interface PreviousCount {
  value: number;
  /** epoch ms */
  observedAt: number;
}

/** What a batch costs against the day's quota (distinct keywords x categories). */
export interface QuotaPlan {
  callsNeeded: number;
  callsLeftToday: number;
  fits: boolean;
  /** epoch ms of the KST midnight it waits for, when it does not fit today */
  finishesNotBefore: number | null;
}

/** Figures over /api/stats' window (``daily.total``); per day, ``DayFigures``. */
export interface WindowFigures {
  jobs: number;
  keywords: number;
  cacheHits: number;
  freshLookups: number;
  /** cacheHits / (cacheHits + freshLookups); null without lookups */
  hitRate: number | null;
  /** failed categories by error code */
  failures: Record<string, number>;
  /** failed jobs by the code of their error */
  jobFailures: Record<string, number>;
  /** upstream calls per key, by label */
  callsByKey: Record<string, number>;
}

export interface DayFigures {
  /** YYYY-MM-DD, KST */
  day: string;
  jobs: number;
  keywords: number;
  cacheHits: number;
  freshLookups: number;
  hitRate: number | null;
  failures: Record<string, number>;
  jobFailures: Record<string, number>;
  callsByKey: Record<string, number>;
}

/** GET /api/stats ``daily``: the last 30 KST days, oldest first, and their total. */
export interface DailyStats {
  days: number;
  from: string;
  to: string;
  perDay: DayFigures[];
  total: WindowFigures;
}

export interface WebhookAttempt {
  at: number;
  status: number | null;
  ok: boolean;
  error: string | null;
}

export interface WebhookDelivery {
  url: string;
  state: 'pending' | 'delivered' | 'failed';
  attempts: WebhookAttempt[];
}

export interface Job {
  id: string;
  status: JobStatus;
  progress: Progress;
  categories: Category[];
  priority?: Priority;
  queuePosition?: number | null;
  createdAt: number;
  startedAt: number | null;
  completedAt: number | null;
  error: string | null;
  lastEventId: string;
  source?: string;
  results?: Result[];
  /** Results with an error (a completed job may have some). */
  failedCount?: number;
  /** Given at submit, else "<first keyword> 외 N개"; null for jobs from before names. */
  name?: string | null;
  webhook?: WebhookDelivery;
}

export interface Event {
  id: string;
  jobId: string;
  type: EventType;
  progress?: Progress;
  result?: Result;
  status?: JobStatus;
  error?: string | null;
  job?: Job;
  gap?: boolean;
}

export interface WebhookRequest {
  url: string;
}

export interface Submission {
  keywords: string[];
  categories?: Category[];
  priority?: Priority;
  name?: string;
  webhook?: WebhookRequest;
}

/** What DocCount.start resolves to (POST /api/documents/batch). */
export interface BatchStarted {
  jobId: string;
  message: string;
  /** Only when the server has an API token: pass it to watch() as streamToken. */
  streamToken?: string;
  streamTokenExpiresAt?: number;
  /** The calls it needs and what the keys have left today. */
  quota?: QuotaPlan | null;
}

export interface ClientOptions {
  /** The service's address, e.g. 'https://doccount.example' ('' = this page's origin). */
  baseUrl?: string;
  /** The API token. Sent only as an Authorization header, never in a URL. */
  token?: string;
}

export interface WatchOptions extends ClientOptions {
  /** A stream token for this job (BatchStarted.streamToken), instead of the API token. */
  streamToken?: string;
  streamTokenExpiresAt?: number;
  /** Which transports to try, in this order (default all three). */
  transports?: Transport[];
  /**
   * One connection per browser instead of one per tab: every tab of this origin that watches
   * with `share: true` follows the job through one leader tab's stream (Web Locks +
   * BroadcastChannel; a new leader resumes by id when it closes). Browsers allow an origin six
   * HTTP/1.1 connections, so a stream per tab starves the seventh. Ignored (each tab streams for
   * itself) where the browser lacks either API.
   */
  share?: boolean;
  /** Every result exactly once, whatever happens to the connection. */
  onResult?: (result: Result, info: { progress: Progress; eventId: string | null }) => void;
  onProgress?: (progress: Progress, extra: { ratePerSec?: number; etaMs?: number | null }) => void;
  onStatus?: (
    status: JobStatus,
    extra: { error: string | null; progress?: Progress; job?: Job },
  ) => void;
  /** `info` only with `share`: whether this tab is the one holding the connection. */
  onTransport?: (transport: Transport, state: TransportState, info?: SharedInfo) => void;
}

export interface SharedInfo {
  shared: boolean;
  leader: boolean;
}

export interface Watch {
  /** Stop following; `done` then resolves to null. */
  close(): void;
  /** The final job with every result; rejects with DocCountError on 401/403/404. */
  readonly done: Promise<Job | null>;
  /** The transport in use now. */
  readonly transport: Transport;
  /** Whether this watch follows a shared connection (`share` asked and supported). */
  readonly shared: boolean;
}

export declare class DocCountError extends Error {
  /** HTTP status (0: the server could not be reached). */
  status: number;
  /** The server's stable code: job_not_found, unauthorized, stream_token_scope, ... */
  code: string;
}

/**
 * The transport core watch() and the dashboard's streams run on (SSE, then WebSocket, then
 * polling; resume by id; the probe). Advanced: watch() is the way to follow a job.
 */
export declare class TransportCore {
  constructor(options: Record<string, unknown>);
  start(): void;
  stop(state?: string, detail?: string): void;
  readonly stopped: boolean;
  readonly transport: Transport | null;
}

export declare const DocCount: {
  start(submission: Submission, options?: ClientOptions): Promise<BatchStarted>;
  watch(jobId: string, options?: WatchOptions): Watch;
  streamToken(
    jobId: string,
    options?: ClientOptions & { streamToken?: string },
  ): Promise<{ jobId: string; streamToken: string; streamTokenExpiresAt: number }>;
};
export default DocCount;
