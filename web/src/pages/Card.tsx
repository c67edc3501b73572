import { type FormEvent, useState } from "react";
import { useParams } from "react-router";
import { type Schemas, unwrap } from "../api/client";
import { useApi } from "../auth";
import { AccountNav, ErrorMessage, Loading, PageTitle } from "../components";
import { centsToInput, formatMoney, parseDollars } from "../format";
import { useLoad } from "../hooks";

type Card = Schemas["CardOut"];
type Controls = Schemas["SpendingControls"];
type MccGroup = NonNullable<Controls["blocked_mcc_groups"]>[number];
type Country = NonNullable<Controls["blocked_countries"]>[number];

// Labels for the API's merchant category groups; the type keeps them in step with the API's enum.
const MCC_GROUPS: { value: MccGroup; label: string }[] = [
  { value: "groceries", label: "Groceries" },
  { value: "fuel", label: "Fuel" },
  { value: "restaurants", label: "Restaurants and bars" },
  { value: "airlines", label: "Airlines" },
  { value: "lodging", label: "Hotels and lodging" },
  { value: "travel", label: "Travel and car rental" },
  { value: "transport", label: "Transport, taxis and parking" },
  { value: "entertainment", label: "Entertainment" },
  { value: "gambling", label: "Gambling" },
  { value: "cash_advance", label: "Cash and money transfers" },
  { value: "online_retail", label: "Online and mail order" },
  { value: "subscriptions", label: "Subscriptions and digital goods" },
  { value: "utilities", label: "Utilities and phone" },
  { value: "healthcare", label: "Healthcare" },
  { value: "other", label: "Everything else" },
];

export function CardPage() {
  const { accountId = "" } = useParams();
  const { client } = useApi();
  const cards = useLoad(
    async () => (await unwrap(client.GET("/v1/accounts/{id}/cards", { params: { path: { id: accountId } } }))).data,
    [accountId],
  );
  return (
    <section>
      <PageTitle>Your card</PageTitle>
      <AccountNav accountId={accountId} />
      {cards.loading && !cards.data && <Loading what="your card" />}
      <ErrorMessage message={cards.error} />
      {cards.data?.length === 0 && <p>This account has no card.</p>}
      {cards.data?.map((card) => <CardPanel key={card.id} initial={card} />)}
    </section>
  );
}

function CardPanel({ initial }: { initial: Card }) {
  const { client } = useApi();
  const [card, setCard] = useState(initial);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const frozen = card.status === "frozen";

  async function toggle() {
    setBusy(true);
    setError(null);
    try {
      const params = { params: { path: { id: card.id } } };
      setCard(
        await unwrap(
          frozen ? client.POST("/v1/cards/{id}/unfreeze", params) : client.POST("/v1/cards/{id}/freeze", params),
        ),
      );
    } catch (err) {
      setError(err instanceof Error ? err.message : "The card could not be changed.");
    } finally {
      setBusy(false);
    }
  }

  return (
    <article className="panel" aria-labelledby={`card-${card.id}`}>
      <div className={`card-face ${frozen ? "card-frozen" : ""}`}>
        <h2 id={`card-${card.id}`}>
          <span className="visually-hidden">Card ending in </span>
          <span aria-hidden="true">•••• •••• •••• </span>
          {card.last4}
        </h2>
        <p>
          Expires {String(card.exp_month).padStart(2, "0")}/{card.exp_year}
        </p>
        <p>
          Status: <strong data-testid="card-status">{card.status}</strong>
        </p>
      </div>
      {card.status !== "closed" && (
        <button type="button" onClick={toggle} disabled={busy} aria-pressed={frozen}>
          {frozen ? "Unfreeze card" : "Freeze card"}
        </button>
      )}
      <p className="hint">A frozen card declines every new purchase until you unfreeze it.</p>
      <ErrorMessage message={error} />
      {card.status !== "closed" && <ControlsForm cardId={card.id} />}
    </article>
  );
}

function ControlsForm({ cardId }: { cardId: string }) {
  const { client } = useApi();
  const controls = useLoad(
    () => unwrap(client.GET("/v1/cards/{id}/controls", { params: { path: { id: cardId } } })),
    [cardId],
  );
  const [error, setError] = useState<string | null>(null);
  const [saved, setSaved] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function save(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const limit = (name: string): number | null | "bad" => {
      const text = String(form.get(name) ?? "").trim();
      if (!text) return null;
      const cents = parseDollars(text);
      return cents === null || cents === 0 ? "bad" : cents;
    };
    const per = limit("per_authorization_limit");
    const daily = limit("daily_limit");
    const monthly = limit("monthly_limit");
    if (per === "bad" || daily === "bad" || monthly === "bad") {
      setError("Limits are amounts in dollars above zero, like 250 or 99.99; leave a field empty for no limit.");
      return;
    }
    const body: Controls = {
      blocked_mcc_groups: form.getAll("blocked_mcc_groups").map((group) => String(group) as MccGroup),
      blocked_countries: String(form.get("blocked_countries") ?? "")
        .split(/[\s,]+/)
        .filter(Boolean)
        .map((c) => c.toUpperCase() as Country),
      per_authorization_limit: per,
      daily_limit: daily,
      monthly_limit: monthly,
    };
    setBusy(true);
    setError(null);
    setSaved(null);
    try {
      await unwrap(client.PUT("/v1/cards/{id}/controls", { params: { path: { id: cardId } }, body }));
      setSaved("Spending controls saved.");
      controls.reload();
    } catch (err) {
      setError(err instanceof Error ? err.message : "The controls could not be saved.");
    } finally {
      setBusy(false);
    }
  }

  if (controls.loading && !controls.data) return <Loading what="spending controls" />;
  if (!controls.data) return <ErrorMessage message={controls.error} />;
  const current = controls.data;
  const blocked = new Set<MccGroup>(current.blocked_mcc_groups ?? []);
  return (
    <form onSubmit={save} className="stack controls" key={JSON.stringify(current)}>
      <h3>Spending controls</h3>
      <fieldset>
        <legend>Block these kinds of merchants</legend>
        <div className="checkbox-grid">
          {MCC_GROUPS.map((group) => (
            <label key={group.value} className="checkbox">
              <input
                type="checkbox"
                name="blocked_mcc_groups"
                value={group.value}
                defaultChecked={blocked.has(group.value)}
              />
              {group.label}
            </label>
          ))}
        </div>
      </fieldset>
      <label>
        Block merchants in these countries
        <input
          name="blocked_countries"
          defaultValue={(current.blocked_countries ?? []).join(", ")}
          aria-describedby="countries-hint"
          autoCapitalize="characters"
        />
      </label>
      <p id="countries-hint" className="hint">
        Two-letter country codes, separated by commas (for example: FR, DE).
      </p>
      <fieldset>
        <legend>Limits in dollars (empty for no limit)</legend>
        <div className="limits">
          <LimitField name="per_authorization_limit" label="Per purchase" value={current.per_authorization_limit} />
          <LimitField name="daily_limit" label="Per day" value={current.daily_limit} />
          <LimitField name="monthly_limit" label="Per month" value={current.monthly_limit} />
        </div>
      </fieldset>
      <ErrorMessage message={error} />
      {saved && (
        <p role="status" className="success">
          {saved}
        </p>
      )}
      <button type="submit" disabled={busy}>
        {busy ? "Saving…" : "Save controls"}
      </button>
    </form>
  );
}

function LimitField({ name, label, value }: { name: string; label: string; value: number | null | undefined }) {
  return (
    <label>
      {label}
      <input
        name={name}
        inputMode="decimal"
        defaultValue={centsToInput(value)}
        aria-describedby={value ? `${name}-now` : undefined}
      />
      {value ? (
        <span id={`${name}-now`} className="hint">
          Now {formatMoney(value)}
        </span>
      ) : null}
    </label>
  );
}
