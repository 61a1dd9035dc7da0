// What the user can do with a job: cancel it (after a confirmation), export it (the server's
// export: the same table as the CLI's, as .xlsx or Excel-ready CSV), copy it as TSV for a
// spreadsheet (every row, whatever the search box shows), search rows.

import { api, ApiError, getToken } from './api.js';
import { $, toast } from './dom.js';
import { copyText, toTSV } from './export.js';
import { fmtNum } from './format.js';
import { applyToOpenJob } from './jobview.js';
import { page } from './page.js';
import { store } from './store.js';

function confirmCancel() {
  const dlg = $('confirm-dialog');
  return new Promise((resolve) => {
    dlg.returnValue = '';
    dlg.addEventListener('close', () => resolve(dlg.returnValue === 'yes'), { once: true });
    dlg.showModal();
  });
}

export async function cancelJob(id, btn) {
  if (!(await confirmCancel())) return;
  if (btn) btn.disabled = true;
  try {
    const res = await api(`/api/documents/jobs/${encodeURIComponent(id)}`, {
      method: 'DELETE',
      interactive: true,
    });
    if (res.job) page.jobList.upsert(res.job);
    // The stream brings the rest: results counted before the cancel took hold, then the
    // final status. Marking the job finished here would close it before they arrive.
    applyToOpenJob(id, { type: 'cancelling' });
    toast('작업을 취소했습니다. 조회된 결과는 남아 있습니다.');
  } catch (e) {
    toast(e instanceof ApiError ? e.message : '작업을 취소하지 못했습니다.', 'error');
  } finally {
    if (btn) btn.disabled = false;
  }
}

/** The server builds the file (GET /api/documents/jobs/{id}/export): numbers as numbers,
 *  Korean headers, search volumes and 경쟁률, failed cells marked. */
async function exportJob(fmt, btn) {
  const st = page.job;
  if (!st) return;
  btn.disabled = true;
  try {
    const headers = {};
    const token = getToken();
    if (token) headers.Authorization = `Bearer ${token}`;
    const res = await fetch(
      `/api/documents/jobs/${encodeURIComponent(st.id)}/export?format=${fmt}`,
      { headers, cache: 'no-store' },
    );
    if (!res.ok) {
      let msg = `내보내지 못했습니다 (${res.status}).`;
      try {
        msg = (await res.json()).error || msg;
      } catch {
        /* not JSON */
      }
      throw new ApiError(msg, { status: res.status });
    }
    const blob = await res.blob();
    const name = /filename\*=UTF-8''([^;]+)/.exec(res.headers.get('Content-Disposition') || '');
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = name ? decodeURIComponent(name[1]) : `doccount.${fmt}`;
    a.hidden = true;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
    const rows = page.table.size;
    toast(
      `${fmt === 'xlsx' ? '엑셀' : 'CSV'} 파일을 저장했습니다 (${fmtNum(rows)}행).`,
      'success',
    );
  } catch (e) {
    toast(e instanceof ApiError ? e.message : '내보내지 못했습니다.', 'error');
  } finally {
    btn.disabled = false;
  }
}

async function copyTSV() {
  const st = page.job;
  if (!st) return;
  const rows = page.table.rows();
  const ok = await copyText(toTSV(rows, st.categories, page.labels));
  toast(
    ok
      ? `표를 복사했습니다 (${fmtNum(rows.length)}행). 스프레드시트에 붙여 넣으세요.`
      : '복사하지 못했습니다. CSV 내보내기를 이용해 주세요.',
    ok ? 'success' : 'error',
  );
}

/** A new job of exactly the failed keywords (POST .../retry); it opens like a submitted one. */
export async function retryFailed(id, btn, onStarted) {
  if (btn) btn.disabled = true;
  try {
    const res = await api(`/api/documents/jobs/${encodeURIComponent(id)}/retry`, {
      method: 'POST',
      interactive: true,
    });
    onStarted(res.jobId, { id: res.jobId, status: 'pending', createdAt: Date.now(), local: true });
    toast('실패한 키워드를 다시 조회합니다.');
  } catch (e) {
    toast(e instanceof ApiError ? e.message : '다시 조회를 시작하지 못했습니다.', 'error');
  } finally {
    if (btn) btn.disabled = false;
  }
}

export function wireJobActions({ onStarted } = {}) {
  $('cancel-job').addEventListener('click', (e) => page.job && cancelJob(page.job.id, e.currentTarget));
  $('retry-failed').addEventListener(
    'click',
    (e) => page.job && onStarted && retryFailed(page.job.id, e.currentTarget, onStarted),
  );
  $('export-csv').addEventListener('click', (e) => exportJob('csv', e.currentTarget));
  $('export-xlsx').addEventListener('click', (e) => exportJob('xlsx', e.currentTarget));
  $('copy-tsv').addEventListener('click', copyTSV);
  $('table-filter').addEventListener('input', (e) => page.table.setFilter(e.currentTarget.value));
  const hot = () => {
    const vol = Number($('hot-min-volume').value);
    const ratio = Number($('hot-max-ratio').value);
    page.table.setHot(Number.isFinite(vol) ? vol : 0, Number.isFinite(ratio) ? ratio : 0);
  };
  $('ratio-category').addEventListener('change', (e) => {
    store.setRatioCategory(e.currentTarget.value);
    page.table.setRatioCategory(e.currentTarget.value);
  });
  $('hot-min-volume').addEventListener('input', hot);
  $('hot-max-ratio').addEventListener('input', hot);
}
