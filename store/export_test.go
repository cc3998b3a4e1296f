package store

// RebindFor exposes rebind to the external tests.
var RebindFor = rebind
