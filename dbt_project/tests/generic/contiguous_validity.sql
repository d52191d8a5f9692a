{#- One row per id and validity range, ranges of one id back to back: each range ends (valid_to, exclusive) where
    the next begins, only the last may be open-ended (null), and none is empty. Returns the offending ranges:
    an overlap (two prices on one day) or a gap (days with no price) for one id. Rows that share a range (the
    price cells of one period: service tiers, windows, long-context tiers) count as one range. -#}
{% test contiguous_validity(model, column_name, valid_from, valid_to) %}
with ranges as (
    select
        {{ column_name }} as id,
        {{ valid_from }} as valid_from,
        {{ valid_to }} as valid_to,
        lead({{ valid_from }}) over (partition by {{ column_name }} order by {{ valid_from }}, {{ valid_to }})
            as next_valid_from
    from (select distinct {{ column_name }}, {{ valid_from }}, {{ valid_to }} from {{ model }}) as distinct_ranges
)

select
    *,
    case
        when valid_to is not null and valid_to <= valid_from then 'empty or backward range'
        when next_valid_from is not null and valid_to is null then 'open-ended range followed by another (overlap)'
        when next_valid_from is not null and valid_to > next_valid_from then 'overlaps the next range'
        when next_valid_from is not null and valid_to < next_valid_from then 'gap before the next range'
    end as problem
from ranges
where (valid_to is not null and valid_to <= valid_from)
    or (next_valid_from is not null and (valid_to is null or valid_to <> next_valid_from))
{% endtest %}
