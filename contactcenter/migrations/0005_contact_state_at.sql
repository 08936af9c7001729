-- When the event that set a contact's state happened, so that the history writer, which may
-- see events out of order, only ever moves a contact forward in time.
ALTER TABLE contacts ADD COLUMN state_at timestamptz;
