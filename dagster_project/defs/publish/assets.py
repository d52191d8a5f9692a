"""What the business reads: finance exports, the spending report and billing-alert delivery.

Thin assets over `dagster_project/publish/` (plain Python). They read the marts (the finance and reporting ones are
dbt_project/models/marts/finance and marts/reporting), so they depend on the dbt marts' asset keys. They only read
the warehouse (except the alert recording, which records what was sent), but all of them that open it sit in the
DuckDB writer pool: a reader opening the file while dbt rewrites it would clash. The one asset that does not,
billing_alert_webhook_posts, has no warehouse resource: it POSTs alerts, which may be slow.
"""

from collections import defaultdict
from decimal import Decimal

import dagster as dg

from dagster_project.metadata import markdown_table
from dagster_project.publish.alerts import (
    DELIVERIES_TABLE,
    DeliveryReport,
    new_alert_payloads,
    record_deliveries,
    record_only,
    send_alerts,
)
from dagster_project.publish.dashboard import usd_exact, write_report
from dagster_project.publish.exports import EXPORT_ORDER, write_exports
from dagster_project.publish.user_pages import write_user_pages
from dagster_project.resources import DUCKDB_WRITER_POOL, WEBHOOK_URL_ENV, AlertWebhookResource, WarehouseResource
from ingest import settings

GROUP = "publish"


def _warehouse_asset(reads, description: str, kinds: set[str], **kwargs):
    """An asset of this group that opens the warehouse: it depends on the tables it reads (asset key names) and
    holds the DuckDB writer pool while it has the file open (module docstring)."""
    return dg.asset(deps=[dg.AssetKey(name) for name in reads], description=description, group_name=GROUP,
                    kinds=kinds, pool=DUCKDB_WRITER_POOL, **kwargs)


def _money(value: Decimal) -> str:
    return f"{value:,.2f}"


@_warehouse_asset(
    (*EXPORT_ORDER, "monthly_revenue", "finance_as_of"),
    description=(
        "Finance exports in <data dir>/exports/: daily revenue, monthly revenue by provider and model, per-user "
        "monthly statements (exact and rounded to cents, half up), the month's statement totals and the statements' "
        "request lines; every row with its period and is_provisional (the running month); Parquet "
        "(decimal128(38,12)) and CSV (exact decimals, UTC timestamps with Z), one file per month, each rewritten "
        "atomically, and only when its month's rows changed (<data dir>/exports.state.json)."
    ),
    kinds={"python", "parquet", "csv"},
)
def finance_exports(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    exports_dir = settings.exports_dir(warehouse.root)
    with warehouse.connect(read_only=True) as con:
        written = write_exports(con, exports_dir)
        monthly = con.execute(
            """
            select revenue.period_month, revenue.is_provisional, revenue.requests, revenue.revenue_usd,
                   revenue.provider_cost_usd, revenue.profit_usd, totals.amount_due_rounded_usd,
                   totals.rounding_difference_usd
            from monthly_revenue as revenue
            left join user_statement_totals as totals using (period_month)
            order by revenue.period_month
            """
        ).fetchall()
    files_by_table: dict[str, int] = defaultdict(int)
    for export in written:
        files_by_table[export.table] += 2
    rewritten = sum(2 for export in written if export.written)
    appended = sum(2 for export in written if export.appended)
    kept = len(written) * 2 - rewritten
    notes = ([f"{kept} unchanged, not rewritten"] if kept else []) + (
        [f"{appended} of them the month's old lines with the new ones added, not sorted again"] if appended else [])
    context.log.info(f"wrote {rewritten} export files to {exports_dir}" + (f" ({'; '.join(notes)})" if notes else ""))
    return dg.MaterializeResult(
        metadata={
            "exports_dir": dg.MetadataValue.path(str(exports_dir)),
            "files": len(written) * 2,
            "files_rewritten": rewritten,
            "files_appended": appended,
            "files_by_table": dg.MetadataValue.json(dict(files_by_table)),
            "months": dg.MetadataValue.md(
                markdown_table(
                    ["month", "status", "requests", "revenue USD", "provider cost USD", "profit USD",
                     "invoiced (rounded) USD", "rounding difference USD"],
                    [[m, "provisional" if provisional else "closed", f"{n:,}", _money(r), _money(c), _money(p),
                      _money(invoiced), usd_exact(difference)]
                     for m, provisional, n, r, c, p, invoiced, difference in monthly],
                )
            ),
        }
    )


@_warehouse_asset(
    ("report_daily", "model_popularity", "user_spending_daily", "user_spending", "trial_status", "run_summary",
     "pricing_dimension_usage", "finance_as_of"),
    description=(
        "The spending report, <data dir>/reports/index.html: revenue, cost and profit per day, top models, top users "
        "by spend, free-trial usage and a per-user spending section; plotly charts, self-contained (works offline)."
    ),
    kinds={"python", "html"},
)
def spending_report(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    with warehouse.connect(read_only=True) as con:
        path, data = write_report(con, settings.reports_dir(warehouse.root))
    context.log.info(f"spending report written to {path}")
    preview = markdown_table(
        ["date", "requests", "revenue USD", "provider cost USD", "profit USD"],
        [[r["date"].isoformat(), f"{r['requests']:,}", usd_exact(r["revenue_usd"]),
          usd_exact(r["provider_cost_usd"]), usd_exact(r["profit_usd"])] for r in data.daily[-7:]],
    )
    top_users = markdown_table(
        ["user", "plan", "requests", "spent USD"],
        [[u["email"] or u["user_id"], u["plan"] or "", f"{u['requests']:,}", usd_exact(u["spent_usd"])]
         for u in data.users[:5]],
    )
    return dg.MaterializeResult(
        metadata={
            "report_path": dg.MetadataValue.path(str(path)),
            "report_url": dg.MetadataValue.url(path.as_uri()),
            "size_bytes": path.stat().st_size,
            "preview_last_7_days": dg.MetadataValue.md(preview),
            "preview_top_users": dg.MetadataValue.md(top_users),
            "users_in_picker": len(data.users),
        }
    )


@_warehouse_asset(
    ("user_spending", "user_spending_daily", "user_alerts", "finance_as_of"),
    description=(
        "Each user's own spending page, <data dir>/user_pages/<token>.html: spend, free-trial tokens left, quota use "
        "this month, alerts and spend per day, that user's figures only. The token is an HMAC of the user id with "
        "the secret <data dir>/user_pages.key; nothing links to the pages; <data dir>/user_pages.csv says which page "
        "is whose (send each user their link). Only the pages of users whose rows changed since the last run are "
        "rendered; unchanged pages are not rewritten."
    ),
    kinds={"python", "html"},
)
def user_spending_pages(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    with warehouse.connect(read_only=True) as con:
        result = write_user_pages(con, warehouse.root)
    context.log.info(f"user spending pages: {result.pages} in {result.folder} ({result.rendered} rendered, "
                     f"{result.rewritten} rewritten, {result.removed} removed)")
    # no page name here: the names are the links, and run metadata is visible to everyone with the Dagster UI
    return dg.MaterializeResult(
        metadata={
            "folder": dg.MetadataValue.path(str(result.folder)),
            "pages": result.pages,
            "rendered": result.rendered,
            "rewritten": result.rewritten,
            "removed": result.removed,
        }
    )


NEW_CROSSINGS_CHECK = "no_new_billing_alerts"
MAX_ROWS_SHOWN = 100  # rows of the new-crossings table in the metadata (the first run may raise hundreds)
DELIVERY_CHECK = "billing_alerts_delivered"

# Billing alerts are three assets, so that a slow webhook holds neither the DuckDB file nor the writer pool: the
# short read and the short write are in the pool, the POSTs are not (and cannot open the warehouse: no resource).
# A run stopped between the POSTs and the recording sends those alerts again next run, with the same
# Idempotency-Key (the receiver's dedupe contract, README "Quotas and alerts").


@_warehouse_asset(
    ("billing_alerts",),
    description=(
        f"The crossings of billing_alerts not yet recorded in {DELIVERIES_TABLE}, as the JSON payloads to raise "
        "(one short read; the connection is closed before anything is sent)."
    ),
    kinds={"python", "duckdb"},
)
def billing_alert_outbox(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.Output:
    with warehouse.connect(read_only=True) as con:
        bodies = new_alert_payloads(con)
    context.log.info(f"billing alerts: {len(bodies)} new crossing(s) to raise")
    return dg.Output(bodies, metadata={"new_crossings": len(bodies)})


@dg.asset(
    description=(
        f"POSTs each new billing alert as JSON to ${WEBHOOK_URL_ENV} when it is set, holding no DuckDB connection "
        "and no writer-pool slot: a total deadline per POST, a delivery budget per run and a circuit breaker; "
        "retried only when the receiver cannot have processed it (see README). Without a URL, passes every "
        "alert on to be recorded for the Dagster UI."
    ),
    group_name=GROUP,
    kinds={"python"},
)
def billing_alert_webhook_posts(
    context: dg.AssetExecutionContext, alert_webhook: AlertWebhookResource, billing_alert_outbox: list
) -> dg.Output:
    url = alert_webhook.resolved_url
    report = DeliveryReport(new=list(billing_alert_outbox))
    if url:
        send_alerts(report, url, alert_webhook.policy(), log=context.log.error)
    else:
        record_only(report)
    return dg.Output(
        report,
        metadata={
            "target": _target(report),
            "delivered": len(report.delivered),
            "failed": len(report.failed),
            "not_tried": len(report.not_tried),
            "stopped": report.stopped or "no",
            "seconds": round(report.seconds, 3),
        },
    )


def _target(report: DeliveryReport) -> str:
    return f"webhook at {report.target_host}" if report.target_host else "Dagster UI only (no webhook configured)"


@_warehouse_asset(
    (),
    description=(
        f"Raises each new crossing of billing_alerts once: records in {DELIVERIES_TABLE} those delivered by "
        "billing_alert_webhook_posts (one short write; a failed or untried one stays new for the next run) and shows "
        "them in its metadata."
    ),
    kinds={"python", "duckdb"},
    check_specs=[
        dg.AssetCheckSpec(NEW_CROSSINGS_CHECK, asset="billing_alert_notifications",
                          description="Warns when this run raised new billing alerts (quota or trial crossings)."),
        dg.AssetCheckSpec(DELIVERY_CHECK, asset="billing_alert_notifications",
                          description="Fails when a new alert could not be delivered to the webhook (or was not "
                                      "tried: the run's budget or circuit breaker stopped sending)."),
    ],
)
def billing_alert_notifications(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, billing_alert_webhook_posts: DeliveryReport
) -> dg.MaterializeResult:
    report = billing_alert_webhook_posts
    with warehouse.connect() as con:
        record_deliveries(con, report)
        recorded = con.execute(f"select count(*) from {DELIVERIES_TABLE}").fetchone()[0]
    target = _target(report)
    context.log.info(
        f"billing alerts: {len(report.new)} new, {len(report.delivered)} raised to the {target}, "
        f"{len(report.failed)} failed, {len(report.not_tried)} not tried"
    )
    status = {body["alert_key"]: "recorded" if attempt is None else f"HTTP {attempt.status}"
              for body, attempt in report.delivered}
    status.update({body["alert_key"]: f"not delivered ({attempt.error or attempt.status})"
                   for body, attempt in report.failed})
    status.update({body["alert_key"]: "not tried this run" for body in report.not_tried})
    shown = report.new[:MAX_ROWS_SHOWN]
    table = markdown_table(
        ["crossed at (UTC)", "user", "plan", "alert", "used tokens", "used spend USD", "delivery"],
        [[b["crossed_at"], b["user_id"], b["plan"] or "", b["alert_type"], f"{b['used_tokens']:,}",
          b["used_spend_usd"], status[b["alert_key"]]] for b in shown],
    )
    if len(report.new) > len(shown):
        table += f"\n\n... and {len(report.new) - len(shown)} more: see {DELIVERIES_TABLE} and billing_alerts."
    undelivered = len(report.failed) + len(report.not_tried)
    return dg.MaterializeResult(
        metadata={
            "new_crossings": len(report.new),
            "delivered": len(report.delivered),
            "failed": len(report.failed),
            "not_tried": len(report.not_tried),
            "stopped_early": report.stopped or "no",
            "target": target,
            "recorded_in_total": recorded,
            "new_crossings_table": dg.MetadataValue.md(table),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name=NEW_CROSSINGS_CHECK,
                passed=not report.new,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={"new_crossings": len(report.new)},
                description=f"{len(report.new)} new billing alert(s) this run" if report.new else None,
            ),
            dg.AssetCheckResult(
                check_name=DELIVERY_CHECK,
                passed=not undelivered,
                severity=dg.AssetCheckSeverity.ERROR,
                metadata={"failed": len(report.failed), "not_tried": len(report.not_tried), "target": target},
                description=(f"{undelivered} alert(s) not delivered: they stay new for the next run"
                             + (f" ({report.stopped})" if report.stopped else "")) if undelivered else None,
            ),
        ],
    )
