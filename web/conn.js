// The connection indicator in the top bar: which transport carries the live updates and in
// what state, for the open job's stream when there is one, else for the jobs feed.

import { MSG_UNREACHABLE } from './api.js';
import { $, showGlobalAlert } from './dom.js';
import { page } from './page.js';
import { TRANSPORT_LABELS } from './transport.js';

const CONN_TEXT = {
  idle: '대기',
  connecting: '연결 중',
  connected: '연결됨',
  reconnecting: '재연결 중',
  offline: '연결 끊김',
  error: '오류',
  done: '종료',
};

export function renderConn() {
  const jobLive = page.stream && !page.stream.stopped && page.conn.job;
  const s = jobLive ? page.conn.job : page.conn.feed;
  const el = $('conn');
  const state = s?.state || 'idle';
  el.dataset.state = state;
  $('conn-transport').textContent = s?.transport ? TRANSPORT_LABELS[s.transport] : '—';
  // every tab of this browser shares one connection (shared.js): say so, and whose it is
  const shared = Boolean(s?.shared && s.transport);
  $('conn-shared').hidden = !shared;
  let text = CONN_TEXT[state] || state;
  if (state === 'connected' && s.transport === 'poll') text = '2초마다 확인';
  $('conn-state').textContent = text;
  const what = jobLive ? '작업 결과' : '작업 목록';
  const whose = shared ? (s.leader ? ' · 이 탭이 모든 탭의 연결을 맡고 있습니다' : ' · 다른 탭의 연결을 함께 씁니다') : '';
  el.title = s?.transport
    ? `${what}: ${shared ? '공유 연결 · ' : ''}${TRANSPORT_LABELS[s.transport]} ${text}${s.detail ? ` — ${s.detail}` : ''}${whose}`
    : '실시간 연결 없음';
  el.dataset.shared = shared ? (s.leader ? 'leader' : 'follower') : 'no';
  const states = [page.conn.job, page.conn.feed];
  $('auth-needed').hidden = !states.some((c) => c?.state === 'error');
  const offline = states.some((c) => c?.state === 'offline');
  const connected = states.some((c) => c?.state === 'connected');
  if (offline && !connected) showGlobalAlert(`${MSG_UNREACHABLE} 다시 연결하는 중입니다…`);
  else if ($('global-alert').textContent.startsWith(MSG_UNREACHABLE) && connected) showGlobalAlert('');
}
