// Filled in by the health work (issue 3).
export {};
