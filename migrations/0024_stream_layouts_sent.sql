-- The layout a live stream's vendor has, apart from the layout wanted.
--
-- `publishers` and `seq` (0020) are the layout wanted and the sequence number it is sent with;
-- `layout_sent_seq` is the highest sequence number whose layout the vendor accepted (0: none
-- yet, so a stream from before this migration has its layout sent once more). While it is
-- below `seq`, the layout is sent again, by the next publisher event or the scheduled job.
--
-- `layout_swept_at_ms`: when the scheduled job last compared a running stream's layout with
-- who publishes (set at the start for the vendors rtcgate lays out, Agora and ZEGO; NULL for a
-- vendor that lays its streams out itself). The job takes the running streams checked longest
-- ago, a bounded batch per run, through the partial index below.
ALTER TABLE streams ADD COLUMN layout_sent_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE streams ADD COLUMN layout_swept_at_ms INTEGER;
UPDATE streams SET layout_swept_at_ms = started_at_ms WHERE vendor IN ('agora', 'zego');
CREATE INDEX streams_layout_sweep ON streams (layout_swept_at_ms)
    WHERE status IN ('starting', 'active') AND layout_swept_at_ms IS NOT NULL;
