"""CDS Hooks 2.0.1 service: discovery, patient-view and order-select cards, feedback, JWT trust (docs/cds-hooks.md)."""
