-- What the customer store, the customer context and the CRM API read by (contactcenter/
-- customers.py, cases.py, context.py).

-- Name search pages through customers in byte order of the lower-cased name, then id: a plain
-- btree in the "C" collation serves both the prefix range and the keyset.
CREATE INDEX customers_name_key ON customers ((lower(display_name) COLLATE "C"), id)
    WHERE merged_into IS NULL;
-- Customers folded into another one, to find them from their survivor.
CREATE INDEX customers_merged_into ON customers (merged_into) WHERE merged_into IS NOT NULL;

-- Every case of a customer, newest first (the open ones have cases_customer_open).
CREATE INDEX cases_customer ON cases (customer_id, created_at DESC, id DESC);
-- The cases a contact is linked to.
CREATE INDEX case_contacts_contact ON case_contacts (contact_id);

-- A customer's notes, newest first, with the id as tie-breaker for keyset pages.
CREATE INDEX customer_notes_customer_key ON customer_notes (customer_id, created_at DESC, id DESC);
DROP INDEX customer_notes_customer;

-- A customer's contact history, newest first, with the id as tie-breaker for keyset pages.
CREATE INDEX contacts_customer_key ON contacts (customer_id, arrived_at DESC, id DESC);
DROP INDEX contacts_customer;

-- Merges a customer survived, and the review list in the order it is worked through.
CREATE INDEX customer_merges_survivor ON customer_merges (survivor_id);
CREATE INDEX merge_reviews_status ON merge_reviews (status, created_at, id);
