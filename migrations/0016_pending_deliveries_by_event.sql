-- Retention keeps an event while any of its webhook deliveries is pending (the consumer reads the
-- event to send it): the events sweep looks up each candidate event's pending deliveries here.
CREATE INDEX webhook_deliveries_pending_event ON webhook_deliveries (event_id) WHERE state = 'pending';
