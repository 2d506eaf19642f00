package redistest

import (
	"bufio"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseClusterNodes(t *testing.T) {
	reply := "" +
		"07c3 127.0.0.1:30004@31004 slave e7d1 0 1426238317239 4 connected\n" +
		"67ed 127.0.0.1:30002@31002,host master - 0 1426238316232 2 connected 5461-10922\n" +
		"e7d1 127.0.0.1:30001@31001 myself,master - 0 0 1 connected 0-5460 [5461->-67ed]\n" +
		"292f 127.0.0.1:30003@31003 master,fail - 1426238318243 1426238318243 3 disconnected 10923-16383\n" +
		"6ec2 127.0.0.1:30005@31005 slave,fail? 67ed 0 1426238316232 5 connected\n"
	got, err := parseClusterNodes(reply)
	if err != nil {
		t.Fatal(err)
	}
	want := []ClusterNode{
		{ID: "07c3", Addr: "127.0.0.1:30004", PrimaryID: "e7d1"},
		{ID: "67ed", Addr: "127.0.0.1:30002", Primary: true, Slots: 5462},
		{ID: "e7d1", Addr: "127.0.0.1:30001", Primary: true, Slots: 5461},
		{ID: "292f", Addr: "127.0.0.1:30003", Primary: true, Failed: true, Slots: 5461},
		{ID: "6ec2", Addr: "127.0.0.1:30005", PrimaryID: "67ed", Failed: true},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parseClusterNodes (-want +got):\n%s", diff)
	}
	if _, err := parseClusterNodes("garbage"); err == nil {
		t.Error("a malformed line parsed")
	}
}

func TestReadReply(t *testing.T) {
	for _, c := range []struct {
		in, want, err string
	}{
		{"+OK\r\n", "OK", ""},
		{":42\r\n", "42", ""},
		{"$5\r\nhello\r\n", "hello", ""},
		{"*2\r\n$9\r\n127.0.0.1\r\n$4\r\n6379\r\n", "127.0.0.1\n6379", ""},
		{"-ERR no such master\r\n", "", "ERR no such master"},
		{"?\r\n", "", "unexpected reply"},
	} {
		got, err := readReply(bufio.NewReader(strings.NewReader(c.in)))
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("readReply(%q) error = %v, want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("readReply(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}
