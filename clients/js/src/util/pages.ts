/** One page of a listing: at most `limit` items, and the cursor of the following page (null when there is none). */
export interface ListPage<T> {
  items: T[];
  next: string | null;
}

/** Which page to ask for: `after` is the `next` of the previous page; `limit` defaults to the node's maximum. */
export interface PageOptions {
  limit?: number;
  after?: string;
}

/** `?limit=…&after=…`, or "" when neither is set. */
export function pageQuery(page: PageOptions): string {
  const query = new URLSearchParams();
  if (page.limit !== undefined) query.set("limit", String(page.limit));
  if (page.after !== undefined) query.set("after", page.after);
  const text = query.toString();
  return text === "" ? "" : `?${text}`;
}

/**
 * Every item of a listing, page after page, fetched as the loop asks for
 * them: `for await (const grant of eachItem((page) => aviso.queues.grants(name, page)))`.
 */
export async function* eachItem<T>(
  listPage: (page: PageOptions) => Promise<ListPage<T>>,
  options: { limit?: number } = {},
): AsyncGenerator<T, void, undefined> {
  let after: string | undefined;
  for (;;) {
    const page = await listPage({ ...options, ...(after === undefined ? {} : { after }) });
    yield* page.items;
    if (page.next === null) return;
    after = page.next;
  }
}
