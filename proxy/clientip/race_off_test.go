//go:build !race

package clientip_test

const raceEnabled = false
