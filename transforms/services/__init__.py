"""What the stages and jobs use but is not itself a stage: storage, the output layout, keys, the ledger, table
files, validation with Great Expectations, its Data Docs, the detectors' models and the jobs' settings."""
