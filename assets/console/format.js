// Turning values into words: times, statuses, permissions.
import { h } from './dom.js';

const absolute = new Intl.DateTimeFormat(undefined, {
  dateStyle: 'medium', timeStyle: 'short',
});
const relative = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
const units = [
  ['year', 365 * 24 * 3600], ['month', 30 * 24 * 3600], ['week', 7 * 24 * 3600],
  ['day', 24 * 3600], ['hour', 3600], ['minute', 60], ['second', 1],
];

/** "3 days ago" / "in 2 weeks". */
export function relativeTime(iso, now = Date.now()) {
  const seconds = Math.round((new Date(iso).getTime() - now) / 1000);
  for (const [unit, size] of units) {
    if (Math.abs(seconds) >= size || unit === 'second') {
      return relative.format(Math.round(seconds / size), unit);
    }
  }
  return '';
}

/** A `<time>` showing the relative time, with the exact one on hover. */
export function timeCell(iso, never = '—') {
  if (!iso) return h('span', { class: 'muted' }, never);
  const exact = absolute.format(new Date(iso));
  return h('time', { datetime: iso, title: exact }, relativeTime(iso));
}

/** A `<time>` showing the date and time. */
export function dateCell(iso, never = '—') {
  if (!iso) return h('span', { class: 'muted' }, never);
  return h('time', { datetime: iso, title: iso }, absolute.format(new Date(iso)));
}

const statusLabels = { ACTIVE: 'Active', EXPIRED: 'Expired', REVOKED: 'Revoked' };

/** The status badge of a token. */
export function statusBadge(status) {
  return h('span', { class: `badge status-${status.toLowerCase()}` }, statusLabels[status] ?? status);
}

/** "read, write" chips for a list of permission names. */
export function permissionList(permissions, everything = 'whole role') {
  if (permissions === null || permissions === undefined) {
    return h('span', { class: 'muted' }, everything);
  }
  if (permissions.length === 0) return h('span', { class: 'muted' }, 'none');
  return h('ul', { class: 'chips' }, permissions.map((p) => h('li', {}, h('code', {}, p))));
}

/** Bytes as "12.3 KiB". */
export function bytes(count) {
  if (count < 1024) return `${count} B`;
  if (count < 1024 * 1024) return `${(count / 1024).toFixed(1)} KiB`;
  return `${(count / 1024 / 1024).toFixed(1)} MiB`;
}

/** `resource:action` grouped by resource, in catalog order. */
export function groupByResource(permissions) {
  const groups = new Map();
  for (const permission of permissions) {
    const [resource] = permission.name.split(':');
    if (!groups.has(resource)) groups.set(resource, []);
    groups.get(resource).push(permission);
  }
  return groups;
}
