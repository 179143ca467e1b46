namespace BitDistill.Autograd;
