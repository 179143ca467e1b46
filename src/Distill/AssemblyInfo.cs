namespace BitDistill.Distill;
