import { type FormEvent, useRef, useState } from "react";
import { useParams } from "react-router";
import { ApiError, type Autopay, type Payment, idempotencyKey, isMissingEndpoint, unwrap } from "../api/client";
import { useApi } from "../auth";
import { AccountNav, ErrorMessage, Loading, Money, PageTitle } from "../components";
import { centsToInput, formatDateTime, formatMoney, parseDollars } from "../format";
import { useLoad } from "../hooks";
import { latestStatement } from "./Overview";

// Stripe's test PaymentMethod ids (https://docs.stripe.com/testing?testing-method=payment-methods),
// the ones that both Stripe's test mode and the localstripe emulator turn into a card:
// 4242 4242 4242 4242, 4000 0000 0000 0341 and 4000 0000 0000 0002. See web/README.md.
export const TEST_PAYMENT_METHODS = [
  { value: "pm_card_visa", label: "Visa 4242 (succeeds)" },
  { value: "pm_card_chargeCustomerFail", label: "Visa 0341 (declined when charged)" },
  { value: "pm_card_visa_chargeDeclined", label: "Visa 0002 (declined when added)" },
];

const notYet = isMissingEndpoint;

export function Payments() {
  const { accountId = "" } = useParams();
  const { client } = useApi();
  const account = useLoad(
    () => unwrap(client.GET("/v1/accounts/{id}", { params: { path: { id: accountId } } })),
    [accountId],
  );
  const statement = useLoad(() => latestStatement(client, accountId), [accountId]);
  const history = useLoad(async () => {
    try {
      return (await unwrap(client.GET("/v1/accounts/{id}/payments", { params: { path: { id: accountId } } })))
        .data;
    } catch (err) {
      if (notYet(err)) return [] as Payment[];
      throw err;
    }
  }, [accountId]);

  return (
    <section>
      <PageTitle>Payments</PageTitle>
      <AccountNav accountId={accountId} />
      {account.data && (
        <p className="lead">
          Current balance <Money amount={account.data.current_balance} currency={account.data.currency} />
          {statement.data && (
            <>
              {" "}
              · minimum payment <Money amount={statement.data.minimum_payment} />
            </>
          )}
        </p>
      )}
      <ErrorMessage message={account.error} />
      <div className="columns">
        <PayNow
          accountId={accountId}
          balance={account.data?.current_balance ?? 0}
          statementBalance={statement.data?.closing_balance}
          minimum={statement.data?.minimum_payment}
          onPaid={() => {
            history.reload();
            account.reload();
          }}
        />
        <AutopayForm accountId={accountId} />
      </div>
      <h2>Payment history</h2>
      {history.loading && !history.data && <Loading what="payments" />}
      <ErrorMessage message={history.error} />
      {history.data?.length === 0 && <p>No payments yet.</p>}
      {history.data && history.data.length > 0 && (
        <div className="table-scroll">
          <table>
            <caption className="visually-hidden">Payments, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Date</th>
                <th scope="col">Status</th>
                <th scope="col" className="num">
                  Amount
                </th>
              </tr>
            </thead>
            <tbody>
              {history.data.map((p) => (
                <tr key={p.id}>
                  <td>{formatDateTime(p.created_at)}</td>
                  <td>
                    <span className={`badge badge-${p.status}`}>{p.status}</span>
                    {p.failure_code && <span className="muted"> ({p.failure_code.replace(/_/g, " ")})</span>}
                  </td>
                  <td className="num">
                    <Money amount={p.amount} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function PayNow(props: {
  accountId: string;
  balance: number;
  statementBalance: number | undefined;
  minimum: number | undefined;
  onPaid: () => void;
}) {
  const { client } = useApi();
  const [amount, setAmount] = useState("");
  const [method, setMethod] = useState(TEST_PAYMENT_METHODS[0]!.value);
  const [error, setError] = useState<string | null>(null);
  const [result, setResult] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  // One key per payment the user means to make: a retry after a lost answer replays it.
  const key = useRef<string | null>(null);

  function choose(cents: number | undefined) {
    if (cents !== undefined && cents > 0) setAmount(centsToInput(cents));
    key.current = null;
  }

  const quickAmounts = [props.minimum, props.statementBalance, props.balance].some((a) => a !== undefined && a > 0);

  async function pay(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const cents = parseDollars(amount);
    if (cents === null || cents <= 0) {
      setError("Enter an amount in dollars above zero, like 25 or 120.50.");
      return;
    }
    key.current ??= idempotencyKey();
    setBusy(true);
    setError(null);
    setResult(null);
    try {
      const payment = await unwrap(
        client.POST("/v1/accounts/{id}/payments", {
          params: { path: { id: props.accountId }, header: { "Idempotency-Key": key.current } },
          body: { amount: cents, payment_method: method },
        }),
      );
      key.current = null;
      setResult(
        payment.status === "failed"
          ? `The payment of ${formatMoney(payment.amount)} was declined${payment.failure_code ? ` (${payment.failure_code.replace(/_/g, " ")})` : ""}. No money moved.`
          : payment.status === "succeeded"
            ? `Thank you: your payment of ${formatMoney(payment.amount)} went through.`
            : `Your payment of ${formatMoney(payment.amount)} is on its way.`,
      );
      props.onPaid();
    } catch (err) {
      if (err instanceof ApiError) key.current = null; // a definite answer: a new attempt gets a new key
      setError(
        notYet(err) ? "Payments are not available yet." : err instanceof Error ? err.message : "The payment failed.",
      );
    } finally {
      setBusy(false);
    }
  }

  return (
    <form onSubmit={pay} className="panel stack" aria-labelledby="pay-now">
      <h2 id="pay-now">Pay now</h2>
      {quickAmounts && (
      <div className="quick" role="group" aria-label="Choose an amount">
        {props.minimum !== undefined && props.minimum > 0 && (
          <button type="button" className="secondary small" onClick={() => choose(props.minimum)}>
            Minimum {formatMoney(props.minimum)}
          </button>
        )}
        {props.statementBalance !== undefined && props.statementBalance > 0 && (
          <button type="button" className="secondary small" onClick={() => choose(props.statementBalance)}>
            Statement {formatMoney(props.statementBalance)}
          </button>
        )}
        {props.balance > 0 && (
          <button type="button" className="secondary small" onClick={() => choose(props.balance)}>
            Balance {formatMoney(props.balance)}
          </button>
        )}
      </div>
      )}
      <label>
        Amount in dollars
        <input
          name="amount"
          inputMode="decimal"
          required
          value={amount}
          onChange={(e) => {
            setAmount(e.target.value);
            key.current = null;
          }}
        />
      </label>
      <label>
        Pay from (Stripe test card)
        <select
          name="payment_method"
          value={method}
          onChange={(e) => {
            setMethod(e.target.value);
            key.current = null;
          }}
        >
          {TEST_PAYMENT_METHODS.map((m) => (
            <option key={m.value} value={m.value}>
              {m.label}
            </option>
          ))}
        </select>
      </label>
      <ErrorMessage message={error} />
      {result && (
        <p role="status" className="success">
          {result}
        </p>
      )}
      <button type="submit" disabled={busy}>
        {busy ? "Paying…" : "Pay"}
      </button>
    </form>
  );
}

function AutopayForm({ accountId }: { accountId: string }) {
  const { client } = useApi();
  const setting = useLoad(async () => {
    try {
      return await unwrap(client.GET("/v1/accounts/{id}/autopay", { params: { path: { id: accountId } } }));
    } catch (err) {
      if (notYet(err)) return null;
      throw err;
    }
  }, [accountId]);
  const [error, setError] = useState<string | null>(null);
  const [saved, setSaved] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function save(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const body: Autopay = {
      enabled: form.get("enabled") === "on",
      amount: String(form.get("amount")) as Autopay["amount"],
      payment_method: String(form.get("payment_method")),
    };
    setBusy(true);
    setError(null);
    setSaved(null);
    try {
      await unwrap(client.PUT("/v1/accounts/{id}/autopay", { params: { path: { id: accountId } }, body }));
      setSaved(body.enabled ? "Autopay is on." : "Autopay is off.");
      setting.reload();
    } catch (err) {
      setError(err instanceof Error ? err.message : "Autopay could not be saved.");
    } finally {
      setBusy(false);
    }
  }

  if (setting.loading && setting.data === undefined) return <Loading what="autopay" />;
  if (setting.error) return <ErrorMessage message={setting.error} />;
  if (setting.data === null) {
    return (
      <div className="panel">
        <h2>Autopay</h2>
        <p>Autopay is not available yet.</p>
      </div>
    );
  }
  const current = setting.data;
  return (
    <form onSubmit={save} className="panel stack" aria-labelledby="autopay" key={JSON.stringify(current)}>
      <h2 id="autopay">Autopay</h2>
      <label className="checkbox">
        <input type="checkbox" name="enabled" defaultChecked={current?.enabled ?? false} />
        Pay automatically two days before each due date
      </label>
      <label>
        How much
        <select name="amount" defaultValue={current?.amount ?? "minimum"}>
          <option value="minimum">The minimum payment</option>
          <option value="statement_balance">The statement balance</option>
        </select>
      </label>
      <label>
        Pay from (Stripe test card)
        <select name="payment_method" defaultValue={current?.payment_method ?? TEST_PAYMENT_METHODS[0]!.value}>
          {TEST_PAYMENT_METHODS.map((m) => (
            <option key={m.value} value={m.value}>
              {m.label}
            </option>
          ))}
        </select>
      </label>
      <ErrorMessage message={error} />
      {saved && (
        <p role="status" className="success">
          {saved}
        </p>
      )}
      <button type="submit" disabled={busy}>
        {busy ? "Saving…" : "Save autopay"}
      </button>
    </form>
  );
}
