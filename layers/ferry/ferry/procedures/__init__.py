"""ERP integration procedures (seed 000): named runs started by `GET /Integration/<endpoint>`, one at a time per tenant."""
