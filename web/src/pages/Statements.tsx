import { useState } from "react";
import { useParams } from "react-router";
import { isMissingEndpoint, type Statement, problemMessage, unwrap } from "../api/client";
import { useApi } from "../auth";
import { AccountNav, ErrorMessage, Loading, Money, PageTitle } from "../components";
import { formatDate } from "../format";
import { useLoad } from "../hooks";

export function Statements() {
  const { accountId = "" } = useParams();
  const { client } = useApi();
  const [downloadError, setDownloadError] = useState<string | null>(null);
  const statements = useLoad(async () => {
    try {
      return (
        await unwrap(client.GET("/v1/accounts/{id}/statements", { params: { path: { id: accountId } } }))
      ).data;
    } catch (err) {
      // Until the statements API is deployed the path is not routed at all.
      if (isMissingEndpoint(err)) return [] as Statement[];
      throw err;
    }
  }, [accountId]);

  async function download(statement: Statement) {
    setDownloadError(null);
    const { data, error } = await client.GET("/v1/statements/{id}/pdf", {
      params: { path: { id: statement.id } },
      parseAs: "blob",
    });
    if (!(data instanceof Blob)) {
      setDownloadError(problemMessage(error, "The PDF could not be downloaded."));
      return;
    }
    const url = URL.createObjectURL(data);
    const link = document.createElement("a");
    link.href = url;
    link.download = `statement-${statement.period_end}.pdf`;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  }

  return (
    <section>
      <PageTitle>Statements</PageTitle>
      <AccountNav accountId={accountId} />
      {statements.loading && !statements.data && <Loading what="statements" />}
      <ErrorMessage message={statements.error} />
      <ErrorMessage message={downloadError} />
      {statements.data?.length === 0 && <p>No statements yet. Your first one arrives after your first billing cycle.</p>}
      {statements.data && statements.data.length > 0 && (
        <div className="table-scroll">
          <table>
            <caption className="visually-hidden">Statements, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Period</th>
                <th scope="col" className="num">
                  Balance
                </th>
                <th scope="col" className="num">
                  Minimum payment
                </th>
                <th scope="col">Due</th>
                <th scope="col">
                  <span className="visually-hidden">Download</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {statements.data.map((s) => (
                <tr key={s.id}>
                  <td>
                    {formatDate(s.period_start)} – {formatDate(s.period_end)}
                  </td>
                  <td className="num">
                    <Money amount={s.closing_balance} />
                  </td>
                  <td className="num">
                    <Money amount={s.minimum_payment} />
                    {s.past_due_amount > 0 && (
                      <div className="small">
                        includes <Money amount={s.past_due_amount} /> past due
                      </div>
                    )}
                  </td>
                  <td>{formatDate(s.due_date)}</td>
                  <td>
                    <button type="button" className="small" onClick={() => download(s)}>
                      Download PDF<span className="visually-hidden"> for {formatDate(s.period_end)}</span>
                    </button>
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
