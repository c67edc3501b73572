import { type FormEvent, useState } from "react";
import { useParams } from "react-router";
import { type Schemas, unwrap } from "../api/client";
import { useApi } from "../auth";
import { AccountNav, ErrorMessage, Loading, Money, PageTitle } from "../components";
import { formatDateTime } from "../format";
import { useLoad } from "../hooks";

type Transaction = Schemas["TransactionOut"];
type Status = NonNullable<Transaction["status"]>;
type Kind = NonNullable<Transaction["type"]>;

const STATUSES: Status[] = ["pending", "posted", "declined", "reversed"];
const TYPES: Kind[] = ["purchase", "refund", "payment", "interest", "fee", "reversal"];
const PAGE_SIZE = 25;

interface Filters {
  status: Status | "";
  type: Kind | "";
  from: string; // yyyy-mm-dd, the user's own days
  to: string;
}

/** A day picked in the user's time zone as the RFC 3339 instant it starts at. */
function startOfLocalDay(day: string, plusDays = 0): string {
  const [y, m, d] = day.split("-").map(Number) as [number, number, number];
  return new Date(y, m - 1, d + plusDays).toISOString();
}

export function Transactions() {
  const { accountId = "" } = useParams();
  const { client } = useApi();
  const [filters, setFilters] = useState<Filters>({ status: "", type: "", from: "", to: "" });
  const [search, setSearch] = useState("");
  // cursors[i] is the cursor of page i (page 0 has none).
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const page = cursors.length - 1;

  const result = useLoad(
    () =>
      unwrap(
        client.GET("/v1/accounts/{id}/transactions", {
          params: {
            path: { id: accountId },
            query: {
              limit: PAGE_SIZE,
              cursor: cursors[page] ?? undefined,
              status: filters.status || undefined,
              type: filters.type || undefined,
              from: filters.from ? startOfLocalDay(filters.from) : undefined,
              // "to" is exclusive in the API: the day after the last day picked.
              to: filters.to ? startOfLocalDay(filters.to, 1) : undefined,
            },
          },
        }),
      ),
    [accountId, filters, page],
  );

  function applyFilters(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    setFilters({
      status: String(form.get("status")) as Filters["status"],
      type: String(form.get("type")) as Filters["type"],
      from: String(form.get("from")),
      to: String(form.get("to")),
    });
    setCursors([null]);
  }

  const needle = search.trim().toLowerCase();
  const rows = (result.data?.data ?? []).filter(
    (t) => !needle || (t.merchant?.name ?? t.type).toLowerCase().includes(needle),
  );

  return (
    <section>
      <PageTitle>Transactions</PageTitle>
      <AccountNav accountId={accountId} />
      <form onSubmit={applyFilters} className="filters" aria-label="Filter transactions">
        <label>
          Status
          <select name="status" defaultValue="">
            <option value="">Any</option>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label>
          Type
          <select name="type" defaultValue="">
            <option value="">Any</option>
            {TYPES.map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>
        </label>
        <label>
          From
          <input type="date" name="from" />
        </label>
        <label>
          To
          <input type="date" name="to" />
        </label>
        <button type="submit">Apply filters</button>
      </form>
      <label className="search">
        Search merchants on this page
        <input type="search" value={search} onChange={(e) => setSearch(e.target.value)} />
      </label>
      <ErrorMessage message={result.error} />
      {result.loading && <Loading what="transactions" />}
      {result.data && (
        <>
          {rows.length === 0 ? (
            <p>No transactions match.</p>
          ) : (
            <div className="table-scroll">
              <table>
                <caption className="visually-hidden">Transactions, newest first</caption>
                <thead>
                  <tr>
                    <th scope="col">Date</th>
                    <th scope="col">Description</th>
                    <th scope="col" className="wide-only">
                      Type
                    </th>
                    <th scope="col">Status</th>
                    <th scope="col" className="num">
                      Amount
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {rows.map((t) => (
                    <tr key={t.id}>
                      <td>{formatDateTime(t.created_at)}</td>
                      <td>{t.merchant?.name ?? t.type}</td>
                      <td className="wide-only">{t.type}</td>
                      <td>
                        <span className={`badge badge-${t.status}`}>{t.status}</span>
                        {t.decline_code && <span className="muted"> ({t.decline_code.replace(/_/g, " ")})</span>}
                      </td>
                      <td className="num">
                        <Money amount={t.amount} currency={t.currency} />
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
          <nav aria-label="Pages" className="pager">
            <button type="button" disabled={page === 0} onClick={() => setCursors((c) => c.slice(0, -1))}>
              Newer
            </button>
            <span>Page {page + 1}</span>
            <button
              type="button"
              disabled={!result.data.next_cursor}
              onClick={() => setCursors((c) => [...c, result.data?.next_cursor ?? null])}
            >
              Older
            </button>
          </nav>
        </>
      )}
    </section>
  );
}
