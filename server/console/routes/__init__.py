"""The console's pages, one module per page (each its own APIRouter under /console)."""
