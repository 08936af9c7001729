-- Trust (docs/widget.md, "Who the visitor is"; docs/decisions.md).

-- How the channel proved who the customer is when the contact arrived: 'site' (the embedding
-- site signed its user id with the widget's identity secret), 'twilio' (a number Twilio's
-- signature vouches for), or NULL: what the customer typed is a claim, not a proof.
ALTER TABLE contacts ADD COLUMN identity_proof text
    CHECK (identity_proof IN ('site', 'twilio'));
