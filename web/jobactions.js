// What the user can do with a job: cancel it (after a confirmation), export it as CSV, copy it
// as TSV for a spreadsheet.

import { api, ApiError } from './api.js';
import { $, toast } from './dom.js';
import { copyText, download, toCSV, toTSV } from './export.js';
import { fmtNum } from './format.js';
import { applyToOpenJob } from './jobview.js';
import { page } from './page.js';

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

function exportName(st, ext) {
  const d = new Date(st.job.createdAt || Date.now());
  const p = (x) => String(x).padStart(2, '0');
  return `문서수_${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}_${p(d.getHours())}${p(d.getMinutes())}.${ext}`;
}

function exportCSV() {
  const st = page.job;
  if (!st) return;
  const rows = page.table.rows();
  download(exportName(st, 'csv'), toCSV(rows, st.categories, page.labels));
  toast(`CSV 파일을 저장했습니다 (${fmtNum(rows.length)}행). 엑셀에서 바로 열 수 있습니다.`, 'success');
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

export function wireJobActions() {
  $('cancel-job').addEventListener('click', (e) => page.job && cancelJob(page.job.id, e.currentTarget));
  $('export-csv').addEventListener('click', exportCSV);
  $('copy-tsv').addEventListener('click', copyTSV);
}
