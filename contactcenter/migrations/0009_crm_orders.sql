-- Value tier boundaries from the last full recompute (contactcenter/tiers.py): for each tier,
-- the smallest value of a customer ranked into it. Between two full recomputes, a customer
-- whose orders change is placed against these amounts rather than re-ranking everyone, so
-- one order never moves another customer's tier (docs/tiers.md).
CREATE TABLE tier_cuts (
    position         integer PRIMARY KEY,       -- 0 is the best tier
    tier             text NOT NULL,
    top_percent      numeric NOT NULL,          -- as configured at the recompute
    min_value_amount numeric(16, 2),            -- NULL: no customer ranked into this tier
    customers        integer NOT NULL,          -- ranked customers placed in this tier
    ranked_customers integer NOT NULL,          -- customers with value in the window, all tiers
    window_months    integer NOT NULL,
    computed_at      timestamptz NOT NULL
);
