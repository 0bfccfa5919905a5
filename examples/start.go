// Start a UiPath process through orchd from Go, standard library only.
// Usage: go run start.go PROCESS
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strings"
)

func main() {
	path := os.Getenv("ORCHD_SOCKET")
	if path == "" {
		path = "/run/orchd/orchd.sock"
	}
	c, err := net.Dial("unix", path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "orchd:", err)
		os.Exit(3)
	}
	defer c.Close()
	req, _ := json.Marshal(map[string]any{"process": os.Args[1], "input": map[string]any{"InvoiceId": 42}})
	fmt.Fprintf(c, "START %s\n", req)
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "OK ") {
		fmt.Fprintln(os.Stderr, "orchd:", strings.TrimSpace(line), err)
		os.Exit(1)
	}
	var answer struct {
		Jobs []struct {
			ID    int64  `json:"id"`
			State string `json:"state"`
		} `json:"jobs"`
	}
	if err := json.Unmarshal([]byte(line[3:]), &answer); err != nil {
		fmt.Fprintln(os.Stderr, "orchd:", err)
		os.Exit(1)
	}
	for _, j := range answer.Jobs {
		fmt.Println(j.ID, j.State)
	}
}
