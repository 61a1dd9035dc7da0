"""The error catalogue: every error code the service answers with, its HTTP status and its
Korean message, written down once.

Handlers raise a catalogue entry (``raise JOB_NOT_FOUND()``, ``raise TOO_MANY_JOBS(limit=20)``);
the error middleware renders it as ``{"success": false, "error": message, "code": code}``, the
WebSocket sends the same code and message in an error frame, and the OpenAPI document lists the
codes of each status from here. A code may have more than one entry when the message says more
about where it came from (an empty body and a malformed one are both ``invalid_json``), but a
code always has one status (a test holds that).
"""

from __future__ import annotations

from collections.abc import Iterator

from server.errorkind import ApiError as ApiError
from server.errorkind import ErrorKind as ErrorKind
from server.errorkind import QueueFullError as QueueFullError
from server.errorkind import StoreUnavailableError as StoreUnavailableError

# --- the request: ids, bodies, queries ------------------------------------------------------

MISSING_JOB_ID = ErrorKind("missing_job_id", 400, "jobId가 필요합니다", "no jobId given")
INVALID_JOB_ID = ErrorKind(
    "invalid_job_id", 400, "jobId 형식이 올바르지 않습니다", "jobId is not a job id"
)
JOB_NOT_FOUND = ErrorKind(
    "job_not_found",
    404,
    "작업을 찾을 수 없습니다 (만료되었거나 없는 작업)",
    "no such job (expired, or never existed)",
)
EMPTY_BODY = ErrorKind(
    "invalid_json", 400, "요청 본문이 비어 있습니다 (JSON 필요)", "the body is empty or not JSON"
)
INVALID_JSON = ErrorKind(
    "invalid_json", 400, "요청 본문이 올바른 JSON이 아닙니다", "the body is empty or not JSON"
)
INVALID_BODY = ErrorKind(
    "invalid_body", 400, "요청 본문은 JSON 객체여야 합니다", "the body is not a JSON object"
)
MISSING_KEYWORDS = ErrorKind(
    "missing_keywords", 400, "keywords 배열이 필요합니다", "no keywords in the body"
)
INVALID_KEYWORDS = ErrorKind(
    "invalid_keywords", 400, "keywords는 문자열 배열이어야 합니다", "keywords is not an array"
)
EMPTY_KEYWORDS = ErrorKind(
    "empty_keywords", 400, "키워드를 하나 이상 입력하세요", "keywords is an empty array"
)
TOO_MANY_KEYWORDS = ErrorKind(
    "too_many_keywords",
    400,
    "키워드는 한 번에 최대 {limit:,}개까지 가능합니다 (입력: {given:,}개)",
    "more keywords than the limit (1,000 by default)",
)
INVALID_KEYWORD = ErrorKind(
    "invalid_keyword", 400, "{pos}번째 키워드가 문자열이 아닙니다", "a keyword is not a string"
)
EMPTY_KEYWORD = ErrorKind(
    "empty_keyword", 400, "{pos}번째 키워드가 비어 있습니다", "a keyword is only white space"
)
KEYWORD_TOO_LONG = ErrorKind(
    "keyword_too_long",
    400,
    "{pos}번째 키워드가 너무 깁니다 (최대 {limit}자)",
    "a keyword is longer than the limit (100 characters by default)",
)
MISSING_KEYWORD = ErrorKind(
    "missing_keyword", 400, "keyword 파라미터가 필요합니다", "no keyword query parameter"
)
INVALID_CATEGORIES = ErrorKind(
    "invalid_categories",
    400,
    "categories는 문자열 배열이어야 합니다",
    "categories is not an array of strings",
)
UNKNOWN_CATEGORY = ErrorKind(
    "unknown_category", 400, "{detail}", "a category that is not offered, or none at all"
)
INVALID_PRIORITY = ErrorKind(
    "invalid_priority",
    400,
    "priority는 high, normal, low 중 하나여야 합니다",
    "priority is not high, normal or low",
)
INVALID_NAME = ErrorKind("invalid_name", 400, "name은 문자열이어야 합니다", "name is not a string")
NAME_TOO_LONG = ErrorKind(
    "name_too_long",
    400,
    "작업 이름이 너무 깁니다 (최대 {limit}자)",
    "a job name longer than 100 characters",
)
INVALID_FORMAT = ErrorKind(
    "invalid_format",
    400,
    "format은 xlsx 또는 csv여야 합니다",
    "export: format is not xlsx or csv",
)
# Keyword files (POST /api/documents/keywords/parse); the message comes from server.keyfiles.
INVALID_KEYWORD_FILE = ErrorKind(
    "invalid_keyword_file", 400, "{detail}", "keyword file: unreadable (encoding, corrupt xlsx)"
)
UNSUPPORTED_FILE_TYPE = ErrorKind(
    "unsupported_file_type", 400, "{detail}", "keyword file: a type that cannot be read (.xls)"
)
UNKNOWN_COLUMN = ErrorKind(
    "unknown_column", 400, "{detail}", "keyword file: no column of that name or number"
)
NO_KEYWORDS_IN_FILE = ErrorKind(
    "no_keywords_in_file", 400, "{detail}", "keyword file: nothing but blanks and numbers"
)
INVALID_EXPAND_LIMIT = ErrorKind(
    "invalid_limit",
    400,
    "limit은 1~1000 사이의 정수여야 합니다",
    "limit is not an integer in range",
)
INVALID_LIMIT = ErrorKind(
    "invalid_limit", 400, "limit은 1~200 사이의 정수여야 합니다", "limit is not an integer in range"
)
INVALID_SEARCH_LIMIT = ErrorKind(
    "invalid_limit",
    400,
    "limit은 1~{limit} 사이의 정수여야 합니다",
    "a history or search limit outside its range",
)

# --- keyword history --------------------------------------------------------------------------

MISSING_QUERY = ErrorKind(
    "missing_query", 400, "q 파라미터(검색어)가 필요합니다", "no q query parameter, or only spaces"
)
QUERY_TOO_LONG = ErrorKind(
    "query_too_long", 400, "검색어가 너무 깁니다 (최대 {limit}자)", "q longer than a keyword may be"
)
INVALID_TIME = ErrorKind(
    "invalid_time",
    400,
    "{name}는 epoch 밀리초 또는 ISO 8601 날짜(예: 2026-01-31)여야 합니다",
    "from or to is neither epoch ms nor an ISO 8601 date/time (a date alone is KST midnight)",
)
INVALID_TIME_RANGE = ErrorKind(
    "invalid_time_range", 400, "from은 to보다 늦을 수 없습니다", "from is later than to"
)

# --- watchlists -------------------------------------------------------------------------------

INVALID_WATCHLIST_ID = ErrorKind(
    "invalid_watchlist_id",
    400,
    "관심 키워드 목록 id 형식이 올바르지 않습니다",
    "not a watchlist id",
)
WATCHLIST_NOT_FOUND = ErrorKind(
    "watchlist_not_found", 404, "관심 키워드 목록을 찾을 수 없습니다", "no such watchlist"
)
INVALID_WATCHLIST = ErrorKind(
    "invalid_watchlist",
    400,
    "관심 키워드 목록은 name, keywords, categories, schedule, paused(참/거짓)만 가질 수 있습니다",
    "an unknown field, an empty change, or paused that is not a boolean",
)
INVALID_WATCHLIST_NAME = ErrorKind(
    "invalid_watchlist_name",
    400,
    "이름은 1~{limit}자의 문자열이어야 합니다",
    "name missing, empty or too long",
)
INVALID_SCHEDULE = ErrorKind(
    "invalid_schedule",
    400,
    'schedule은 {{"daily": "09:30"}}(한국 시간) 또는 {{"everyHours": 1~{limit}}} 형식이어야 합니다',
    "schedule is neither daily HH:MM (KST) nor every N hours",
)

INVALID_IDEMPOTENCY_KEY = ErrorKind(
    "invalid_idempotency_key",
    400,
    "Idempotency-Key는 1~128자의 영문, 숫자, 기호(공백 제외)여야 합니다",
    "the Idempotency-Key header is empty, too long, or not printable ASCII",
)

# --- streams (SSE and WebSocket) -------------------------------------------------------------

INVALID_JOBS = ErrorKind(
    "invalid_jobs", 400, "jobs 파라미터는 all만 가능합니다", "jobs is something other than all"
)
INVALID_JOBS_FRAME = ErrorKind(
    "invalid_jobs", 400, "jobs는 all만 가능합니다", "jobs is something other than all"
)
INVALID_EVENT_ID = ErrorKind(
    "invalid_event_id",
    400,
    "lastEventId 형식이 올바르지 않습니다",
    "the resume id is malformed, unknown, or of another job",
)
INVALID_SINCE = ErrorKind(
    "invalid_event_id",
    400,
    "since는 이 작업에서 받은 lastEventId(이벤트 id)여야 합니다",
    "since (status poll) is malformed or past the job's last event",
)
UNKNOWN_EVENT_ID = ErrorKind(
    "invalid_event_id",
    400,
    "알 수 없는 lastEventId입니다",
    "the resume id is malformed, unknown, or of another job",
)
FOREIGN_EVENT_ID = ErrorKind(
    "invalid_event_id",
    400,
    "이 작업의 이벤트 id가 아닙니다",
    "the resume id is malformed, unknown, or of another job",
)
SHUTTING_DOWN = ErrorKind(
    "shutting_down",
    503,
    "서버가 종료 중입니다. 잠시 후 다시 연결하세요",
    "the server is shutting down; connect again (to another node)",
)
# WebSocket frames only (the socket stays open).
INVALID_JSON_FRAME = ErrorKind(
    "invalid_json", 400, "메시지가 올바른 JSON이 아닙니다", "the body is empty or not JSON"
)
BINARY_FRAME = ErrorKind(
    "invalid_frame",
    400,
    "텍스트(JSON) 메시지만 받습니다",
    "WebSocket: a binary frame, or JSON that is not an object",
)
INVALID_FRAME = ErrorKind(
    "invalid_frame",
    400,
    "메시지는 JSON 객체여야 합니다",
    "WebSocket: a binary frame, or JSON that is not an object",
)
UNKNOWN_TYPE = ErrorKind(
    "unknown_type",
    400,
    "type은 subscribe 또는 unsubscribe여야 합니다",
    "WebSocket: type is not subscribe or unsubscribe",
)
TOO_MANY_SUBSCRIPTIONS = ErrorKind(
    "too_many_subscriptions",
    400,
    "한 연결에서 최대 {limit}개까지 구독할 수 있습니다",
    "WebSocket: more subscriptions on one socket than allowed",
)
NOT_SUBSCRIBED = ErrorKind(
    "not_subscribed", 400, "구독 중이 아닙니다", "WebSocket: unsubscribe from a job not subscribed"
)
TOO_MANY_FRAMES = ErrorKind(
    "too_many_frames",
    429,
    "메시지를 너무 자주 보냅니다 (초당 최대 {rate:g}개). 이 메시지는 처리되지 않았습니다",
    "WebSocket: more client frames than the burst (20), then the rate (10 a second), allow",
)
STORE_UNAVAILABLE_FRAME = ErrorKind(
    "store_unavailable",
    503,
    "저장소에 연결할 수 없습니다. 다시 구독하세요",
    "the store cannot be reached; try again",
)
STORE_LOST_FRAME = ErrorKind(
    "store_unavailable",
    503,
    "저장소를 읽지 못해 구독을 종료합니다. 마지막 id로 다시 구독하세요",
    "the store cannot be reached; try again",
)

# --- who may call, and how much --------------------------------------------------------------

UNAUTHORIZED = ErrorKind(
    "unauthorized",
    401,
    "인증이 필요합니다: Authorization: Bearer <토큰> 헤더를 보내세요",
    "an API token is set and the request did not present it",
    headers=(("WWW-Authenticate", "Bearer"),),
)
ORIGIN_NOT_ALLOWED = ErrorKind(
    "origin_not_allowed",
    403,
    "허용되지 않은 출처(Origin)입니다",
    "a browser Origin not on the allow-list (CORS preflight, WebSocket)",
)
CROSS_ORIGIN = ErrorKind(
    "cross_origin",
    403,
    "다른 사이트에서 보낸 요청은 받지 않습니다. 대시보드에서 직접 요청하거나, "
    "다른 출처를 허용하려면 --cors-origin 으로 등록하세요",
    "a state-changing or quota-spending request (POST, DELETE, GET count, WebSocket) sent by "
    "a page of another origin (Origin, Sec-Fetch-Site or Referer says so)",
)
HOST_NOT_ALLOWED = ErrorKind(
    "host_not_allowed",
    421,
    "허용되지 않은 호스트 이름입니다. 이 이름으로 접속하려면 --allowed-host 로 등록하세요",
    "the Host is not a loopback name nor on --allowed-host (DNS rebinding guard)",
)
TOO_MANY_JOBS = ErrorKind(
    "too_many_jobs",
    429,
    "대기 중인 작업이 너무 많습니다 (최대 {limit}개). 앞선 작업이 끝난 뒤 다시 시도하세요",
    "this client address has too many pending or running jobs",
    retry_after_s=30,
)
TOO_MANY_STREAMS = ErrorKind(
    "too_many_streams",
    429,
    "열린 스트림이 너무 많습니다 (주소당 최대 {limit}개). "
    "사용하지 않는 연결을 닫고 다시 시도하세요",
    "this client address holds too many open SSE + WebSocket streams",
    retry_after_s=5,
)

ADMIN_DISABLED = ErrorKind(
    "admin_disabled",
    403,
    "관리 기능은 --api-token을 설정한 서버에서만 사용할 수 있습니다",
    "an operator endpoint on a server without --api-token",
)
NOTHING_TO_RETRY = ErrorKind(
    "nothing_to_retry",
    409,
    "다시 조회할 실패한 키워드가 없습니다",
    "retry: the job has no keyword whose lookup failed",
)
TOO_MANY_CONNECTIONS = ErrorKind(
    "too_many_connections",
    503,
    "서버가 처리할 수 있는 연결 수(최대 {limit:,}개)를 넘었습니다. 잠시 후 다시 시도하세요",
    "more open requests (streams included) than --max-connections",
    retry_after_s=5,
)

# --- the service ------------------------------------------------------------------------------

STORE_UNAVAILABLE = ErrorKind(
    "store_unavailable",
    503,
    "저장소에 연결할 수 없습니다. 잠시 후 다시 시도하세요",
    "the store cannot be reached; try again",
    retry_after_s=5,
)
NOT_READY = ErrorKind(
    "not_ready",
    503,
    "준비되지 않았습니다: {failing}",
    "readyz: the store is unreachable or the worker stopped",
    retry_after_s=5,
)
INTERNAL_ERROR = ErrorKind(
    "internal_error", 500, "서버 내부 오류가 발생했습니다", "a bug; the log has the traceback"
)
# The upstream cannot serve at all (FatalProviderError): the provider's message is shown.
CONFIG_ERROR = ErrorKind(
    "config_error",
    503,
    "{detail}",
    "the upstream is misconfigured (no key, wrong address, no such API)",
)
NO_USABLE_KEY = ErrorKind(
    "no_usable_key",
    503,
    "{detail}",
    "every upstream key is retired (daily quota until midnight KST, or rejected)",
)
UPSTREAM_ERROR = ErrorKind("upstream_error", 503, "{detail}", "the upstream cannot serve")
VOLUMES_OFF = ErrorKind(
    "volumes_off",
    409,
    "검색량 조회가 설정되지 않았습니다 (NAVER_AD_CUSTOMER_ID, NAVER_AD_ACCESS_LICENSE, "
    "NAVER_AD_SECRET_KEY)",
    "related keywords asked of a server without a search volume provider",
)
VOLUME_AUTH_FAILED = ErrorKind(
    "volume_auth_failed",
    503,
    "{detail}",
    "the Search Ad API refused the credentials or the signature (403)",
)

# --- webhooks and exports -----------------------------------------------------------------

INVALID_WEBHOOK = ErrorKind(
    "invalid_webhook",
    400,
    'webhook은 {"url": "https://..."} 형식이어야 합니다',
    "webhook is not an object with an http(s) url",
)
INVALID_WEBHOOK_URL = ErrorKind(
    "invalid_webhook",
    400,
    "webhook.url은 2048자 이하의 http:// 또는 https:// URL이어야 합니다",
    "webhook is not an object with an http(s) url",
)
UNKNOWN_WEBHOOK_HOST = ErrorKind(
    "invalid_webhook",
    400,
    "webhook.url의 호스트를 찾을 수 없습니다: {host}",
    "webhook is not an object with an http(s) url",
)
WEBHOOK_ADDRESS_REFUSED = ErrorKind(
    "webhook_address_refused",
    400,
    "webhook.url이 내부망(사설·루프백 등) 주소를 가리킵니다. "
    "서버가 --webhook-allow-private로 시작된 경우에만 허용됩니다",
    "the webhook's host resolves to a private, loopback or otherwise non-public address",
)
WEBHOOKS_DISABLED = ErrorKind(
    "webhooks_disabled",
    400,
    "이 서버에는 웹훅 서명 키(--webhook-secret)가 없어 웹훅을 보낼 수 없습니다",
    "a webhook was asked for but the server has no --webhook-secret",
)
INVALID_FORMAT = ErrorKind(
    "invalid_format", 400, "format은 csv, tsv, jsonl 중 하나여야 합니다", "unknown export format"
)

# --- stream tokens ------------------------------------------------------------------------

STREAM_TOKEN_INVALID = ErrorKind(
    "unauthorized",
    401,
    "스트림 토큰이 만료되었거나 올바르지 않습니다. 새로 발급받으세요",
    "an API token is set and the request did not present it",
    headers=(("WWW-Authenticate", "Bearer"),),
)
TOKEN_IN_URL = ErrorKind(
    "token_in_url",
    401,
    "API 토큰은 URL에 넣을 수 없습니다. Authorization 헤더나 스트림 토큰(streamToken)을 쓰세요",
    "the API token itself came in a URL (?token=); use a stream token "
    "(or start the server with --allow-token-in-url)",
)
STREAM_TOKEN_SCOPE = ErrorKind(
    "stream_token_scope",
    403,
    "이 스트림 토큰으로는 볼 수 없는 작업입니다",
    "a stream token was used for another job, or for anything but its job's streams and status",
)
STREAM_TOKENS_DISABLED = ErrorKind(
    "stream_tokens_disabled",
    400,
    "API 토큰이 설정되지 않은 서버에는 스트림 토큰이 필요 없습니다",
    "stream tokens exist only when the server has an API token",
)

# --- HTTP errors aiohttp raises (routing, body size), in the same JSON ------------------------

BAD_REQUEST = ErrorKind("bad_request", 400, "잘못된 요청입니다", "a malformed request")
HTTP_UNAUTHORIZED = ErrorKind(
    "unauthorized",
    401,
    "인증이 필요합니다",
    "an API token is set and the request did not present it",
)
FORBIDDEN = ErrorKind("forbidden", 403, "허용되지 않은 요청입니다", "a forbidden request")
NOT_FOUND = ErrorKind("not_found", 404, "찾을 수 없는 경로입니다", "no such path")
METHOD_NOT_ALLOWED = ErrorKind(
    "method_not_allowed", 405, "허용되지 않은 메서드입니다", "the path has no such method"
)
BODY_TOO_LARGE = ErrorKind(
    "body_too_large",
    413,
    "요청 본문이 너무 큽니다 (최대 {limit:,} 바이트)",
    "the body is over the limit (256 KiB by default)",
)
TOO_MANY_REQUESTS = ErrorKind("too_many_requests", 429, "요청이 너무 많습니다", "too many requests")
HTTP_ERROR = ErrorKind(
    "http_error", 500, "{reason}", "any other HTTP error, with its own status and reason"
)

# aiohttp's HTTP exceptions by status; others become HTTP_ERROR with their own status.
FOR_HTTP_STATUS: dict[int, ErrorKind] = {
    k.status: k
    for k in (
        BAD_REQUEST,
        HTTP_UNAUTHORIZED,
        FORBIDDEN,
        NOT_FOUND,
        METHOD_NOT_ALLOWED,
        BODY_TOO_LARGE,
        TOO_MANY_REQUESTS,
    )
}
# A FatalProviderError's code to the entry that renders it.
FOR_PROVIDER_CODE: dict[str, ErrorKind] = {
    k.code: k for k in (CONFIG_ERROR, NO_USABLE_KEY, UPSTREAM_ERROR)
}


# A KeywordFileError's code to the entry that renders it.
FOR_KEYWORD_FILE_CODE: dict[str, ErrorKind] = {
    k.code: k
    for k in (INVALID_KEYWORD_FILE, UNSUPPORTED_FILE_TYPE, UNKNOWN_COLUMN, NO_KEYWORDS_IN_FILE)
}


def catalogue() -> Iterator[ErrorKind]:
    """Every entry, in the order written above."""
    for value in globals().values():
        if isinstance(value, ErrorKind):
            yield value


def codes_by_status() -> dict[int, list[str]]:
    """Each status with its codes, sorted, without repeats (for the OpenAPI document)."""
    by_status: dict[int, set[str]] = {}
    for kind in catalogue():
        if kind is not HTTP_ERROR:
            by_status.setdefault(kind.status, set()).add(kind.code)
    return {status: sorted(codes) for status, codes in sorted(by_status.items())}
