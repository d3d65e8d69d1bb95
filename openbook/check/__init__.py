"""`openbook check DIR`: a folder rendered as a deployment would render it, every problem printed."""
