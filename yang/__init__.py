"""The qnms YANG modules (the source of truth), installed as package data: see
qnms.yang.catalog."""
