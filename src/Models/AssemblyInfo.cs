namespace BitDistill.Models;
