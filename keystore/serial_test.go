package keystore

import "testing"

func TestValidSerial(t *testing.T) {
	for s, want := range map[string]bool{
		"JN000001": true, "FOC2114X0ZZ": true, "9X1234": true, "a.b_c-d": true, "NS1234-5": true,
		"": false, ".": false, "..": false, "-": false, ".hidden": false, "_x": false, "-rf": false,
		"a/b": false, "a\\b": false, "a b": false, "a\x00b": false, "é1": false,
		"A234567890123456789012345678901234567890123456789012345678901234":  true,  // 64
		"A2345678901234567890123456789012345678901234567890123456789012345": false, // 65
	} {
		if got := ValidSerial(s); got != want {
			t.Errorf("ValidSerial(%q) = %v, want %v", s, got, want)
		}
	}
}
