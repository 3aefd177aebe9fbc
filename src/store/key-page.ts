/**
 * Keyset paging for listings (docs/protocol.md "Paging"): a page is the rows
 * whose key sorts after `after`, at most `limit` of them. Keys are names
 * (ASCII, binary collation in both backends), so "sorts after" is the same
 * byte order in SQLite and MariaDB.
 */
export interface KeyPage<K = string> {
  /** Rows whose key sorts after this one; from the first when absent. */
  after?: K;
  limit: number;
}

/** Where an API key sorts in its user's listing: oldest first, id breaks ties. */
export interface ApiKeyPosition {
  createdAt: number;
  id: string;
}

/** SQL pieces both backends share: extra WHERE conditions with their values, then the LIMIT with its value. */
export interface PageSql {
  conditions: string[];
  values: Array<string | number>;
  limit: string;
  limitValues: number[];
}

/** `column > ?` from `page.after`; everything when there is no page. */
export function namePageSql(column: string, page: KeyPage | undefined): PageSql {
  const after = page?.after;
  return {
    conditions: after === undefined ? [] : [`${column} > ?`],
    values: after === undefined ? [] : [after],
    ...limitSql(page),
  };
}

/** `(created_at, id) > (?, ?)` spelled so both backends use the (username, created_at) order. */
export function apiKeyPageSql(page: KeyPage<ApiKeyPosition> | undefined): PageSql {
  const after = page?.after;
  return {
    conditions: after === undefined ? [] : ["(created_at > ? OR (created_at = ? AND id > ?))"],
    values: after === undefined ? [] : [after.createdAt, after.createdAt, after.id],
    ...limitSql(page),
  };
}

function limitSql(page: KeyPage<unknown> | undefined): Pick<PageSql, "limit" | "limitValues"> {
  return page === undefined
    ? { limit: "", limitValues: [] }
    : { limit: " LIMIT ?", limitValues: [page.limit] };
}

/** `WHERE a AND b`, or nothing. */
export function whereSql(conditions: readonly string[]): string {
  return conditions.length === 0 ? "" : `WHERE ${conditions.join(" AND ")}`;
}
