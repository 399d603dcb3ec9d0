package sdk

// ClockFree is clockFree, for tests.
var ClockFree = clockFree
