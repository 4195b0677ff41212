package main

import "testing"

func TestParseRate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, in string
		want     int64
		bad      bool
	}{
		{"plain", "9600", 9600, false},
		{"kilo", "64k", 64_000, false},
		{"mega fraction", "1.5M", 1_500_000, false},
		{"giga", "1G", 1_000_000_000, false},
		{"unlimited", "0", 0, false},
		{"negative", "-1M", 0, true},
		{"unknown suffix", "10x", 0, true},
		{"empty", "", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseRate(tc.in)
			if (err != nil) != tc.bad || got != tc.want {
				t.Fatalf("parseRate(%q) = %d, %v; want %d, error %v", tc.in, got, err, tc.want, tc.bad)
			}
		})
	}
}
