-- Trust (docs/widget.md, "Who the visitor is"; docs/decisions.md).

-- How the channel proved who the customer is when the contact arrived: 'site' (the embedding
-- site signed its user id with the widget's identity secret), 'twilio' (a number Twilio's
-- signature vouches for), or NULL: what the customer typed is a claim, not a proof.
ALTER TABLE contacts ADD COLUMN identity_proof text
    CHECK (identity_proof IN ('site', 'twilio'));

-- The client's id of the message that opened the contact (a chat's client_msg_id, an SMS's
-- MessageSid, an email's Message-ID, a call's CallSid): a first message sent again, because
-- its answer was lost, finds the contact it opened instead of opening a second one.
ALTER TABLE contacts ADD COLUMN first_client_msg_id text;
CREATE UNIQUE INDEX contacts_first_client_msg ON contacts (customer_id, first_client_msg_id)
    WHERE first_client_msg_id IS NOT NULL;
