// Package soak runs sealboot for a long time under a steady mixed load and
// checks that it does not drift: DHCP from perfdhcp at a fixed rate, rounds
// of emulated devices booting (DHCP, TFTP, decrypt, check), configs and
// certificates changing, a SIGHUP every few seconds; goroutines, open files
// and resident memory are sampled every 10 s and must come back to within
// 10% of the first sample; every device must install its own config, no
// acknowledged lease may be missing from the journal after kill -9.
//
// It is not part of `go test ./...`: the test is behind the build tag soak
// and needs root. `make soak` runs it for SOAK_DURATION (default 10m) and
// appends the results to bench/results.md.
package soak
