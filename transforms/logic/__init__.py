"""Pure logic (geometry, tracking, masks, identity, archive safety): never imports apache_beam."""
