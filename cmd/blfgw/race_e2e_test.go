//go:build race

package main

// raceEnabled makes the end-to-end tests build the gateway with -race too.
const raceEnabled = true
