"""Reading a distributor's export into the warehouse's raw tables."""
