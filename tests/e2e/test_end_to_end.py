"""End to end: the hand-made fixture through ingest, dbt and every mart, with money worked out by hand.

Markup 25%, minimum $0.001, trial 100,000 tokens; prices from the catalog seed: GPT-4o Mini 0.15 / 0.60,
Claude 3.5 Sonnet 3.00 / 15.00, azure/crowe-logic-assistant 2.50 / 10.00 (USD per 1M tokens).
"""

from __future__ import annotations

from decimal import Decimal as D

import pytest

# request id -> (provider cost, user charge, markup, list charge, trial credit, trial tokens), by hand:
EXPECTED = {
    # usr_past: 100,000 tokens of Sonnet, exactly the trial: cost 0.27 + 0.15
    "g01": (D("0.42"), D("0"), D("-0.42"), D("0.525"), D("0.525"), 100000),
    # usr_past, past the trial: the first worked example, minimum charge
    "g02": (D("0.00045"), D("0.001"), D("0.00055"), D("0.001"), D("0"), 0),
    # usr_t95: 95,000 tokens of GPT-4o Mini inside the trial: 0.0135 + 0.003
    "g03": (D("0.0165"), D("0"), D("-0.0165"), D("0.020625"), D("0.020625"), 95000),
    # usr_new: status 500, not billed, no trial used
    "g04": (D("0"), D("0"), D("0"), D("0"), D("0"), 0),
    # usr_new's first billed request: covered by the trial
    "g05": (D("0.00045"), D("0"), D("-0.00045"), D("0.001"), D("0.001"), 1500),
    # azure route, first request of usr_az: 0.005 + 0.01
    "g07": (D("0.015"), D("0"), D("-0.015"), D("0.01875"), D("0.01875"), 3000),
    # usr_t95 crosses the trial boundary: the worked example with 95,000 trial tokens used
    "g08": (D("0.09"), D("0.086931818182"), D("-0.003068181818"), D("0.1125"), D("0.025568181818"), 5000),
    # usr_past, Sonnet past the trial (status 201 is billed)
    "g09": (D("0.09"), D("0.1125"), D("0.0225"), D("0.1125"), D("0"), 0),
    # usr_past, 0 tokens after the trial: the minimum
    "g10": (D("0"), D("0.001"), D("0.001"), D("0.001"), D("0"), 0),
    # usr_ghost is not in the users export: billed all the same (first request, in the trial)
    "g11": (D("0.00045"), D("0"), D("-0.00045"), D("0.001"), D("0.001"), 1500),
}

MONITORING_QUERIES = [
    "SELECT * FROM model_popularity;",
    "SELECT * FROM ai_revenue_analytics;",
    "SELECT * FROM user_ai_usage_summary WHERE user_id = 'xxx';",
    """SELECT COUNT(*) as total_requests, SUM(total_tokens) as total_tokens,
  SUM(user_charge_usd) as total_revenue, SUM(markup_usd) as total_profit
FROM ai_usage_analytics;""",
    "SELECT * FROM model_popularity LIMIT 10;",
    "SELECT * FROM ai_revenue_analytics WHERE date >= NOW() - INTERVAL '7 days' ORDER BY date DESC;",
    """SELECT u.email, COUNT(*) as requests, SUM(a.total_tokens) as tokens, SUM(a.user_charge_usd) as spent
FROM ai_usage_analytics a JOIN users u ON a.user_id = u.id
GROUP BY u.email ORDER BY spent DESC LIMIT 20;""",
]


def test_every_request_is_priced_by_hand(con):
    rows = con.execute(
        """
        select request_id, provider_cost_usd, user_charge_usd, markup_usd, list_charge_usd, trial_credit_usd,
               trial_tokens
        from ai_usage_analytics order by request_id
        """
    ).fetchall()
    assert {row[0]: tuple(row[1:]) for row in rows} == EXPECTED


def test_routes_billing_flags_and_utc(con):
    rows = dict(con.execute("select request_id, route from ai_usage_analytics").fetchall())
    assert rows["g07"] == "azure" and {route for rid, route in rows.items() if rid != "g07"} == {"ai_gateway"}
    assert con.execute("select created_at::varchar from ai_usage_analytics where request_id = 'g02'").fetchone() == (
        "2026-11-20 09:00:00",
    )
    assert con.execute("select request_id from ai_usage_analytics where not is_billed").fetchall() == [("g04",)]


def test_unpriced_model_is_held_back_not_billed_at_zero(con):
    assert con.execute("select request_id, model from unpriced_requests").fetchall() == [
        ("g06", "acme/mystery-model")
    ]
    assert con.execute("select count(*) from ai_usage_analytics where request_id = 'g06'").fetchone() == (0,)


def test_daily_revenue_is_the_exact_sum(con):
    rows = con.execute(
        """
        select date::varchar, requests, provider_cost_usd, revenue_usd, profit_usd, trial_credit_usd, active_users
        from ai_revenue_analytics order by date
        """
    ).fetchall()
    assert rows == [
        ("2026-11-20", 6, D("0.4524"), D("0.001"), D("-0.4514"), D("0.565375"), 4),
        ("2026-11-21", 4, D("0.18045"), D("0.200431818182"), D("0.019981818182"), D("0.026568181818"), 3),
    ]
    total = con.execute(
        "select sum(user_charge_usd), sum(markup_usd), sum(provider_cost_usd) from ai_usage_analytics"
    ).fetchone()
    assert total == (D("0.201431818182"), D("-0.431418181818"), D("0.63285"))


def test_user_summary_and_popularity(con):
    assert con.execute(
        """
        select date::varchar, requests, total_tokens, user_charge_usd, markup_usd
        from user_ai_usage_summary where user_id = 'usr_past' order by date
        """
    ).fetchall() == [
        ("2026-11-20", 2, 101500, D("0.001"), D("-0.41945")),
        ("2026-11-21", 2, 22000, D("0.1135"), D("0.0235")),
    ]
    assert con.execute("select model, requests, users from model_popularity limit 10").fetchall() == [
        ("openai/gpt-4o-mini", 6, 4),
        ("anthropic/claude-3.5-sonnet", 3, 2),
        ("azure/crowe-logic-assistant", 1, 1),
    ]


def test_users_export_and_its_bad_row(con):
    assert con.execute("select id, plan from users order by id").fetchall() == [
        ("usr_az", "team"), ("usr_new", "free"), ("usr_past", "pro"), ("usr_t95", "free"),
    ]
    assert con.execute("select created_at::varchar from users where id = 'usr_t95'").fetchone() == (
        "2026-11-01 07:30:00",
    )


def test_bad_input_is_quarantined_with_file_line_and_reason(con):
    assert con.execute(
        "select source, line_number, reason, field from raw.quarantine order by source, line_number"
    ).fetchall() == [
        ("raw/gateway/2026-11-20.jsonl", 7, "not_json", None),
        ("raw/gateway/2026-11-21.jsonl.gz", 4, "conflicting_duplicate", "id"),
        ("raw/gateway/2026-11-21.jsonl.gz", 5, "negative_tokens", "native_tokens_prompt"),
        ("raw/users.csv", 6, "missing_field", "email"),
    ]
    assert con.execute(
        "select source, lines_read, accepted, duplicates, quarantined from raw.load_log order by source"
    ).fetchall() == [
        ("raw/gateway/2026-11-20.jsonl", 9, 7, 1, 1),
        ("raw/gateway/2026-11-21.jsonl.gz", 6, 4, 0, 2),
        ("raw/users.csv", 5, 4, 0, 1),
    ]


@pytest.mark.parametrize("query", MONITORING_QUERIES)
def test_monitoring_guide_queries_run_unchanged(con, query):
    con.execute(query).fetchall()


def test_monitoring_top_spenders(con):
    assert con.execute(MONITORING_QUERIES[-1]).fetchall()[:2] == [
        ("past@example.com", 4, 123500, D("0.1145")),
        ("t95@example.com", 2, 117000, D("0.086931818182")),
    ]


def test_money_columns_are_decimal(con):
    types = dict(
        con.execute(
            """
            select table_name || '.' || column_name, data_type from information_schema.columns
            where table_schema = 'main' and column_name like '%\\_usd' escape '\\'
            """
        ).fetchall()
    )
    assert types and all(kind.startswith("DECIMAL") for kind in types.values()), types
