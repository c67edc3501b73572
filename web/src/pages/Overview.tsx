import { useEffect } from "react";
import { Link } from "react-router";
import { type ApiClient, type Schemas, type Statement, unwrap } from "../api/client";
import { useApi } from "../auth";
import { ErrorMessage, Loading, Money, PageTitle } from "../components";
import { formatDate, formatRate } from "../format";
import { useLoad } from "../hooks";

type Account = Schemas["AccountOut"];

/** The newest statement, or null when there is none (or the statements API is not there yet). */
export async function latestStatement(client: ApiClient, accountId: string): Promise<Statement | null> {
  try {
    const page = await unwrap(
      client.GET("/v1/accounts/{id}/statements", { params: { path: { id: accountId }, query: { limit: 1 } } }),
    );
    return page.data[0] ?? null;
  } catch {
    return null;
  }
}

export function Overview() {
  const { client } = useApi();
  const accounts = useLoad(async () => (await unwrap(client.GET("/v1/accounts"))).data, []);

  return (
    <section>
      <PageTitle>Overview</PageTitle>
      {accounts.loading && !accounts.data && <Loading what="your accounts" />}
      <ErrorMessage message={accounts.error} />
      {accounts.data && accounts.data.length === 0 && (
        <div className="panel">
          <p>You have no card account yet.</p>
          <Link to="/apply" className="button">
            Apply for a card
          </Link>
        </div>
      )}
      {accounts.data?.map((account) => <AccountSummary key={account.id} account={account} />)}
    </section>
  );
}

/** A User Timing mark when the first account's figures are on screen (web/README.md's first render). */
export const OVERVIEW_RENDERED = "overview-rendered";

function AccountSummary({ account }: { account: Account }) {
  const { client } = useApi();
  useEffect(() => {
    if (performance.getEntriesByName(OVERVIEW_RENDERED).length === 0) performance.mark(OVERVIEW_RENDERED);
  }, []);
  const statement = useLoad(() => latestStatement(client, account.id), [account.id]);
  const base = `/accounts/${encodeURIComponent(account.id)}`;
  const due = statement.data;
  return (
    <article className="panel account" aria-labelledby={`acct-${account.id}`}>
      <h2 id={`acct-${account.id}`}>
        Credit card account <span className="muted">…{account.id.slice(-6)}</span>
        {account.status !== "active" && <span className="badge">{account.status}</span>}
      </h2>
      <dl className="figures">
        <div>
          <dt>Current balance</dt>
          <dd data-testid="current-balance">
            <Money amount={account.current_balance} currency={account.currency} />
          </dd>
        </div>
        <div>
          <dt>Available credit</dt>
          <dd data-testid="available-credit">
            <Money amount={account.available_credit} currency={account.currency} />
          </dd>
        </div>
        <div>
          <dt>Credit limit</dt>
          <dd>
            <Money amount={account.credit_limit} currency={account.currency} />
          </dd>
        </div>
        {account.pending_amount > 0 && (
          <div>
            <dt>Pending</dt>
            <dd>
              <Money amount={account.pending_amount} currency={account.currency} />
            </dd>
          </div>
        )}
        {due && (
          <>
            <div>
              <dt>Payment due</dt>
              <dd>{formatDate(due.due_date)}</dd>
            </div>
            <div>
              <dt>Minimum payment</dt>
              <dd>
                <Money amount={due.minimum_payment} currency={account.currency} />
              </dd>
            </div>
            {account.past_due_amount > 0 && (
              <div>
                <dt>Past due</dt>
                <dd>
                  <Money amount={account.past_due_amount} currency={account.currency} /> (included in the
                  minimum; pay it to bring the account current)
                </dd>
              </div>
            )}
          </>
        )}
        <div>
          <dt>APR</dt>
          <dd>{formatRate(account.apr_bps)}</dd>
        </div>
      </dl>
      <ul className="actions">
        <li>
          <Link to={`${base}/transactions`}>Transactions</Link>
        </li>
        <li>
          <Link to={`${base}/card`}>Card</Link>
        </li>
        <li>
          <Link to={`${base}/statements`}>Statements</Link>
        </li>
        <li>
          <Link to={`${base}/payments`}>Pay</Link>
        </li>
      </ul>
    </article>
  );
}
