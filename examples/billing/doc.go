// Package billing is an example legacy billing application (customers, invoices, payments,
// reports, settings) that the Tollgate demo and tests put behind the gate.
//
// Like many applications a gate is deployed in front of, it does no authentication of its own:
// it believes whatever identity headers arrive (user, email, name, roles) and shows every action
// to everyone, leaving the gate to decide who may do what. That makes it unsafe to expose
// directly. It must only ever be reachable through Tollgate, which strips client-supplied
// identity headers and sets its own.
//
// GET /whoami reports exactly the identity headers the app received, so tests can prove that a
// spoofed header never gets through the gate. All data lives in memory and is reseeded by New.
package billing
